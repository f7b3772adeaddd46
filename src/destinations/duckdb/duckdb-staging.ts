import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlatDocument, hasLoneSurrogateEscape, type FlatShape, type Row } from '../../core/rows.js';
import type { JsonRecord } from '../../core/types.js';
import type { ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { RecordEncoder, RowSink } from '../sql/record-encoder.js';
import type { RowStaging, SqlDialect, StagedPart, StagedSource } from '../sql/sql-dialect.js';
import type { LoadColumn } from '../sql/table-columns.js';
import { LineChunks } from '../sql/line-chunks.js';
import { makeTempDir } from '../sql/temp-dirs.js';

/**
 * Filled chunks (of `LineChunks`) of staged text kept before they are written to the part's file,
 * synchronously: handing each write to libuv's pool cost the load's thread more (waking a pool
 * thread on two busy cores gave the core away, 0.7 s per 1,000,000 rows) than the copy into the
 * page cache does (1,000,000 rows: 7.50–7.75 s instead of 7.77–8.20 s, 3 pairs, measured).
 */
const WRITE_CHUNKS = 4;
/** `max_line_size` and `buffer_size` of `read_csv` when every document is shorter. */
const MIN_LINE_SIZE = 1 << 20;
/** Document keys of iterable-sync's own (fields whose names start so are never staged under their own name). */
const RESERVED = '__isync_';
const RESCUED_KEY = `${RESERVED}r`;
/** The column `WITH ORDINALITY` adds (a field of that name is staged encoded). */
const ORDINALITY = 'ordinality';

export interface DuckDBPart extends StagedPart {
  readonly path: string;
  /** The file of the part's keys (`{"k0": …}` per row), '' for a table without key. */
  readonly keysPath: string;
  /** Columns with a value staged under `__isync_c<id>` in the part. */
  readonly encodedColumns: ReadonlySet<number>;
  /** Longest document, in UTF-16 code units. */
  readonly longest: number;
  /** Characters of its documents, newlines included. */
  readonly chars: number;
}

/**
 * DuckDB staging: each row becomes one JSON document in a newline-delimited file of the part (in
 * the OS temp folder), written as its chunks fill. A flat document whose shape fits
 * the columns as it is (the common case of an export) is written as it is; a record whose values
 * all fit as JSON (`fitsAsJson`) as `JSON.stringify(record)`; any other record as
 * `{"__isync_c<id>": canonical value, …, "__isync_r": rescued}` (see `cellText`). The part's
 * commit reads the file with `read_ndjson`, typed by an explicit column list, so DuckDB parses
 * the documents in its own thread; the file is deleted after the commit.
 */
export class DuckDBStaging implements RowStaging {
  private readonly sink: RowSink;
  private dir: string | undefined;
  private fileCount = 0;
  private fd: number | undefined;
  private path = '';
  /** The part's documents, one line a row, as UTF-8 in reused buffers. */
  private readonly text = new LineChunks();
  private doc = '';
  rows = 0;
  chars = 0;
  private rescuedRows = 0;
  private longest = 0;
  private encoded = new Set<number>();
  /** `"__isync_c<id>":` by column id. */
  private readonly prefixes: string[] = [];
  /** Whether a column's values are staged under the field's own name, by column id (decided once). */
  private readonly asIs: boolean[] = [];
  /** Lower-cased names of the fields staged as they are (DuckDB reads JSON keys ignoring case). */
  private readonly asIsNames = new Set<string>();
  private readonly isAsIs = (column: LoadColumn): boolean => this.asIs[column.id] ?? this.decideAsIs(column);
  /** Whether the documents of a shape are staged as they are (forgotten at reset: columns may go). */
  private shapes = new Map<FlatShape, boolean>();
  /**
   * The part's keys, one `{"k0": …}` document a row, written to a file of their own: the DELETE
   * of an upsert and the check for repeated keys read this small file instead of the part's
   * (measured: each pass over a part's file costs DuckDB about 1 s per 150,000 rows).
   */
  private readonly keysText = new LineChunks();
  private keysFd: number | undefined;

  constructor(
    private readonly dialect: SqlDialect,
    private readonly keyColumns: readonly LoadColumn[],
  ) {
    this.sink = {
      cell: (column, text) => {
        const prefix = (this.prefixes[column.id] ??= `${JSON.stringify(`${RESERVED}c${column.id}`)}:`);
        this.encoded.add(column.id);
        this.doc += `${this.doc === '' ? '' : ','}${prefix}${jsonValue(column.type, text)}`;
      },
      endRow: (rescued) => {
        if (rescued !== null) {
          this.rescuedRows++;
          this.doc += `${this.doc === '' ? '' : ','}"${RESCUED_KEY}":${rescued}`;
        }
        this.append(`{${this.doc}}`);
        this.doc = '';
      },
    };
  }

  stage(row: Row, encoder: RecordEncoder): string | undefined {
    let record: JsonRecord;
    if (row instanceof FlatDocument) {
      let fits = this.shapes.get(row.shape);
      if (fits === undefined) this.shapes.set(row.shape, (fits = encoder.shapeFitsAsIs(row.shape, this.isAsIs)));
      const key = fits ? flatKey(row.text, encoder.keyColumns) : undefined;
      if (key !== undefined) {
        this.addKey(key);
        this.append(row.text);
        return undefined;
      }
      record = JSON.parse(row.text) as JsonRecord;
    } else {
      record = row;
    }
    const fits = encoder.fitsAsIs(record, this.isAsIs);
    if (typeof fits === 'string') return fits;
    const texts = encoder.keyTexts(record);
    this.addKey(texts.map((text, i) => `"k${i}":${jsonValue(encoder.keyColumns[i]!.type, text)}`).join(','));
    const doc = fits ? recordDocument(record) : undefined;
    if (doc !== undefined) {
      this.append(doc);
      return undefined;
    }
    return encoder.encodeInto(record, this.sink);
  }

  /** Notes a row's key (`"k0":value,…` as JSON members; '' for a table without key). */
  private addKey(members: string): void {
    if (members !== '') this.keysText.writeLine(`{${members}}`);
  }

  /** Nothing for the session: the part's files are written as chunks fill (`append`) and at `seal`. */
  take(): undefined {
    return undefined;
  }

  seal(): DuckDBPart {
    this.writeText(true);
    const part: DuckDBPart = {
      path: this.path,
      keysPath: this.keysFd === undefined ? '' : `${this.path}.keys`,
      rows: this.rows,
      rescuedRows: this.rescuedRows,
      encodedColumns: this.encoded,
      longest: this.longest,
      chars: this.chars,
    };
    this.closeFiles();
    this.startPart();
    return part;
  }

  source(staged: StagedPart, columns: readonly LoadColumn[]): StagedSource {
    const part = staged as DuckDBPart;
    const structure: Record<string, string> = { [RESCUED_KEY]: 'JSON' };
    const values = new Map<number, string>();
    for (const column of columns) {
      const type = this.dialect.typeName(column.type);
      const sources: string[] = [];
      if (this.isAsIs(column)) {
        structure[column.field] = type;
        sources.push(`s.${quoteIdentifier(column.field)}`);
      }
      if (part.encodedColumns.has(column.id)) {
        structure[`${RESERVED}c${column.id}`] = type;
        sources.push(`s.${quoteIdentifier(`${RESERVED}c${column.id}`)}`);
      }
      values.set(
        column.id,
        sources.length === 0 ? `CAST(NULL AS ${type})` : sources.length === 1 ? sources[0]! : `coalesce(${sources.join(', ')})`,
      );
    }
    const lineSize = Math.max(MIN_LINE_SIZE, 2 ** Math.ceil(Math.log2(part.longest * 4 + 1024)));
    // In key order, as the keys file and the merge's `k<i>` have them.
    const keys = this.keyColumns.filter((c) => columns.includes(c));
    const keyStructure = Object.fromEntries(keys.map((c, i) => [`k${i}`, this.dialect.typeName(c.type)]));
    const keyNames = keys.map((_, i) => `k${i}`).join(', ');
    const keysFile = `(SELECT ${documentColumns(keyStructure)} FROM ${lines(part.keysPath, MIN_LINE_SIZE)})`;
    return {
      keys: `SELECT ${keyNames} FROM ${keysFile} AS k`,
      repeatedKeys: `SELECT count(*) AS n FROM (SELECT 1 FROM ${keysFile} AS k GROUP BY ${keyNames} HAVING count(*) > 1) AS r`,
      keysUnique: false,
      relation: `(SELECT ${documentColumns(structure)}, ${ORDINALITY} FROM ${lines(part.path, lineSize)} WITH ORDINALITY) AS s`,
      value: (column) => values.get(column.id) ?? `CAST(NULL AS ${this.dialect.typeName(column.type)})`,
      rescued: `s.${RESCUED_KEY}`,
      order: `s.${ORDINALITY}`,
    };
  }

  afterMerge(): string[] {
    return [];
  }

  release(staged: StagedPart): void {
    const { path, keysPath } = staged as DuckDBPart;
    for (const file of [path, keysPath]) if (file !== '') rmSync(file, { force: true });
  }

  reset(): undefined {
    if (this.fd !== undefined) {
      this.closeFiles();
      for (const file of [this.path, `${this.path}.keys`]) rmSync(file, { force: true });
    }
    this.startPart();
    this.shapes = new Map();
    return undefined;
  }

  dispose(): void {
    this.reset();
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** Whether a column's values go under the field's own name: not when DuckDB would confuse the name with another. */
  private decideAsIs(column: LoadColumn): boolean {
    const name = column.field.toLowerCase();
    const asIs = name !== '' && name !== ORDINALITY && !name.startsWith(RESERVED) && !this.asIsNames.has(name);
    if (asIs) this.asIsNames.add(name);
    this.asIs[column.id] = asIs;
    return asIs;
  }

  private append(doc: string): void {
    this.rows++;
    this.chars += doc.length + 1;
    if (doc.length > this.longest) this.longest = doc.length;
    this.text.writeLine(doc);
    if (this.text.filledCount >= WRITE_CHUNKS) this.writeText(false);
  }

  private startPart(): void {
    this.path = '';
    this.text.clear();
    this.doc = '';
    this.rows = 0;
    this.chars = 0;
    this.rescuedRows = 0;
    this.longest = 0;
    this.encoded = new Set();
    this.keysText.clear();
  }

  /** Appends the filled chunks of staged text (all of it when `all`) to the part's files, opening them first. */
  private writeText(all: boolean): void {
    if (all) {
      this.text.cut();
      this.keysText.cut();
    }
    if (this.text.filledCount === 0 && this.keysText.filledCount === 0) return;
    try {
      if (this.fd === undefined) {
        this.dir ??= makeTempDir('stage');
        this.path = join(this.dir, `part-${this.fileCount++}.ndjson`);
        this.fd = openSync(this.path, 'w');
      }
      if (this.keysFd === undefined && this.keysText.filledCount > 0) this.keysFd = openSync(`${this.path}.keys`, 'w');
      writeChunks(this.fd, this.text);
      if (this.keysFd !== undefined) writeChunks(this.keysFd, this.keysText);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `cannot write staged rows in the temp folder ${this.dir ?? tmpdir()} (${message}); it must be a writable folder ` +
          `with room for a part of a window (up to about 100 MB): free space there, or set TMPDIR to another folder`,
        { cause: error },
      );
    }
  }

  private closeFiles(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.keysFd !== undefined) closeSync(this.keysFd);
    this.fd = undefined;
    this.keysFd = undefined;
  }
}

/** Writes the filled chunks of `text` to `fd`, then keeps their buffers for the next chunks. */
function writeChunks(fd: number, text: LineChunks): void {
  const chunks = text.take();
  for (const chunk of chunks) {
    for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset, chunk.length - offset);
  }
  text.reuse(chunks);
}

/** `JSON.stringify` of a record, or undefined when it cannot be staged so (a JS bigint, a lone surrogate). */
function recordDocument(record: JsonRecord): string | undefined {
  let doc: string;
  try {
    doc = JSON.stringify(record);
  } catch {
    return undefined;
  }
  return hasLoneSurrogateEscape(doc) ? undefined : doc;
}

/**
 * The key of a flat document as `"k0":value,…` (see `DuckDBStaging.addKey`), or undefined when
 * it is not read from the text (a key column of another type than text or bigint). String values
 * of a flat document have no escapes; a text column's key is written as a JSON string whatever
 * its kind, as `cellText` gives it.
 */
function flatKey(text: string, keyColumns: readonly LoadColumn[]): string | undefined {
  let members = '';
  for (let i = 0; i < keyColumns.length; i++) {
    const column = keyColumns[i]!;
    if (column.type !== 'text' && column.type !== 'bigint') return undefined;
    const name = `"${column.field}"`;
    let at = -1;
    for (let from = 0; ; from = at + name.length) {
      at = text.indexOf(name, from);
      if (at < 0) return undefined;
      let colon = at + name.length;
      while (text.charCodeAt(colon) === 0x20) colon++;
      if (text.charCodeAt(colon) === 0x3a /* : */) {
        at = colon + 1;
        break;
      }
    }
    while (text.charCodeAt(at) === 0x20) at++;
    let value: string;
    if (text.charCodeAt(at) === 0x22 /* " */) {
      value = text.slice(at, text.indexOf('"', at + 1) + 1);
    } else {
      let end = at;
      while (end < text.length && !',} '.includes(text[end]!)) end++;
      value = column.type === 'text' ? `"${text.slice(at, end)}"` : text.slice(at, end);
    }
    members += `${i === 0 ? '' : ','}"k${i}":${value}`;
  }
  return members;
}

/**
 * The lines of a staged file, one column `j` of JSON text, read with DuckDB's CSV reader: a
 * delimiter, quote and escape that JSON text never holds raw (control characters are escaped
 * in JSON strings), and buffers of `size` bytes. `read_ndjson` held about 34 MB more per
 * part (its buffers grow to 16 MiB each, whatever `maximum_object_size`) and ran out of
 * memory under a 60 MiB limit where this runs under 30 (measured, README "Loading a window").
 */
function lines(path: string, size: number): string {
  return (
    `read_csv(${quoteLiteral(path)}, columns = {'j': 'VARCHAR'}, header = false, auto_detect = false, ` +
    `delim = '\x01', quote = '', escape = '', max_line_size = ${size}, buffer_size = ${size})`
  );
}

/** `unnest(from_json(j, structure))`: the members of each line's document, as typed columns named as the members. */
function documentColumns(structure: Record<string, string>): string {
  return `unnest(from_json(j, ${quoteLiteral(JSON.stringify(structure))}))`;
}

/** A cell's canonical text as a JSON value inside the staged document. */
function jsonValue(type: ColumnType, text: string): string {
  switch (type) {
    case 'text':
      return JSON.stringify(text);
    case 'timestamptz':
      return `"${text}"`; // canonical: digits, '-', ':', '.', 'T', 'Z' only
    default:
      return text; // digits, true/false, JSON text
  }
}
