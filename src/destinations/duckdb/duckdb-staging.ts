import { close, openSync, rmSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { JsonRecord } from '../destination.js';
import { ChunkKeys } from '../sql/chunk-keys.js';
import { ChunkRange, type ValueRange } from '../sql/chunk-range.js';
import type { ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { RecordEncoder, RowSink } from '../sql/record-encoder.js';
import type { MergeCounts, MergePlan, RowStaging, SqlDialect, StagedChunk } from '../sql/sql-dialect.js';
import { RESCUED_COLUMN, SYNCED_AT_COLUMN, type LoadColumn } from '../sql/table-columns.js';
import type { PreparedTable } from '../sql/table-setup.js';
import { makeTempDir } from '../sql/temp-dirs.js';
import { TransactionKeys } from '../sql/transaction-keys.js';
import type { ExportLineParser, ExportLineRules } from '../../streams/export-lines.js';
import type { DuckDBSession } from './duckdb-session.js';
import { EarlierRows } from './earlier-rows.js';
import { PlainLineScanner, recordDocument } from './plain-lines.js';

/** Characters of staged text kept in JS before they are written to the chunk file. */
const WRITE_CHARS = 1 << 19;
/** Writes of about `WRITE_CHARS` that may be under way before `push` waits for them. */
const MAX_WRITES_PENDING = 2;
/** `maximum_object_size` of `read_ndjson` when every document is smaller (DuckDB buffers twice that per thread). */
const MIN_OBJECT_SIZE = 1 << 20;
/** Document keys of iterable-sync's own (fields whose names start so are never staged under their own name). */
const RESERVED = '__isync_';
const SEQ_KEY = `${RESERVED}s`;
const RESCUED_KEY = `${RESERVED}r`;

interface DuckDBChunk extends StagedChunk {
  readonly path: string;
  /** Settles once the file is complete and closed; rejects when a write failed. */
  readonly written: Promise<void>;
  /** Columns with a value staged under `__isync_c<id>` in the chunk. */
  readonly encodedColumns: readonly LoadColumn[];
  readonly mayHaveDuplicates: boolean;
  /** Tables keyed by the loader: some key may be one of an earlier chunk of the transaction. */
  readonly mayRepeatEarlierChunk: boolean;
  /** Tables keyed by the loader with a `rangeColumn`: the chunk's range of the replication key. */
  readonly range: ValueRange | undefined;
  /** Rows with rescued values. */
  readonly rescuedRows: number;
  /** Longest document, in UTF-16 code units. */
  readonly longest: number;
}

/**
 * DuckDB staging: each row becomes one JSON document in a newline-delimited file of the load (in
 * the OS temp folder), written as the rows arrive. A record whose values all fit their columns as
 * JSON (`fitsAsJson`: the common case) is written as it is, `JSON.stringify(record)`, its fields
 * under their own names; any other record as `{"__isync_c<id>": canonical value, …,
 * "__isync_r": rescued}` (see `cellText`). A merge reads a closed file with `read_ndjson`, typed
 * by an explicit column list, so DuckDB parses the documents in its own threads, and upserts it
 * into the table (`INSERT … ON CONFLICT DO UPDATE`, after `QUALIFY row_number()` when the chunk
 * repeats a key), then deletes the file. The rows never sit in JS or in a DuckDB temp table, and
 * the load writes the next file while DuckDB merges the previous one.
 *
 * A table keyed by the loader (no primary key, `SqlDialect.keysByLoader`) gets plain INSERTs
 * instead, after a DELETE of the earlier rows of the chunk's keys when there can be any (see
 * `EarlierRows`): the staging tracks, per chunk, whether a key may repeat one of an earlier chunk
 * of the transaction (`ChunkKeys` with `TransactionKeys`) and, with a `rangeColumn`, the range of
 * the replication key (`ChunkRange`).
 */
export class DuckDBStaging implements RowStaging {
  readonly pushUsesSession = false;
  private readonly sink: RowSink;
  private dir: string | undefined;
  private fileCount = 0;
  /** The open chunk file (rows since the last seal), if any. */
  private fd: number | undefined;
  /** The writes of the open chunk file, in order (libuv writes while the load goes on). */
  private writing: Promise<void> = Promise.resolve();
  private writesPending = 0;
  private path = '';
  private text = '';
  private doc = '';
  private seq = 0;
  private rows = 0;
  private rescuedRows = 0;
  private longest = 0;
  /** The chunk repeats a key: documents carry their sequence number from then on (see `seal`). */
  private numbered = false;
  /** Columns with an encoded value in the open chunk, by id. */
  private encoded = new Map<number, LoadColumn>();
  /** `,"__isync_c<id>":` by column id. */
  private readonly prefixes: string[] = [];
  /** Whether a column's values are staged under the field's own name, by column id (decided once). */
  private readonly asIs: boolean[] = [];
  /** Lower-cased names of the fields staged as they are (DuckDB column names ignore case). */
  private readonly asIsNames = new Set<string>();
  private readonly isAsIs = (column: LoadColumn): boolean => this.asIs[column.id] ?? this.decideAsIs(column);
  private readonly keys: ChunkKeys;
  /** The fast path of `stageLine` (made by its first call; forgets its fields at every reset: columns may go with a rollback). */
  private scanner: PlainLineScanner | undefined;
  private scannerRules: ExportLineRules | undefined;
  /** Tables keyed by the loader: the keys of the transaction's sealed chunks. */
  private readonly transactionKeys: TransactionKeys | undefined;
  /** Tables keyed by the loader with a `rangeColumn`: the open chunk's range of the replication key. */
  private readonly range: ChunkRange | undefined;
  /** Tables keyed by the loader: deletes the rows a chunk replaces. */
  private readonly earlierRows: EarlierRows;
  private readonly keyColumns: readonly LoadColumn[];
  /** Files sealed and not merged yet (deleted by reset). */
  private readonly sealed = new Set<string>();

  constructor(
    private readonly session: DuckDBSession,
    private readonly dialect: SqlDialect,
    table: Pick<PreparedTable, 'keyColumns' | 'hasPrimaryKey' | 'rangeColumn'>,
  ) {
    this.keyColumns = table.keyColumns;
    if (table.keyColumns.length > 0 && !table.hasPrimaryKey) this.transactionKeys = new TransactionKeys();
    if (table.rangeColumn !== undefined) this.range = new ChunkRange(table.rangeColumn.field);
    this.keys = new ChunkKeys(table.keyColumns, this.transactionKeys);
    this.earlierRows = new EarlierRows(session, dialect);
    this.sink = {
      cell: (column, text) => {
        let prefix = this.prefixes[column.id];
        if (prefix === undefined) prefix = this.prefixes[column.id] = `,${JSON.stringify(`${RESERVED}c${column.id}`)}:`;
        if (!this.encoded.has(column.id)) this.encoded.set(column.id, column);
        this.doc += prefix + jsonValue(column.type, text);
      },
      endRow: (rescued, key) => {
        this.keys.add(key);
        if (rescued !== null) this.rescuedRows++;
        const doc = `{"${SEQ_KEY}":${this.seq}${this.doc}${rescued === null ? '' : `,"${RESCUED_KEY}":${rescued}`}}`;
        this.doc = '';
        this.append(doc);
      },
    };
  }

  stage(record: JsonRecord, encoder: RecordEncoder): string | undefined {
    const fits = encoder.fitsAsIs(record, this.isAsIs);
    if (typeof fits === 'string') return fits;
    this.range?.add(record);
    if (fits) {
      // undefined: a bigint in a JSON value or a lone surrogate, which encodeInto handles
      const doc = recordDocument(record);
      if (doc !== undefined) {
        this.keys.add(encoder.keyText(record));
        this.appendDocument(doc);
        return undefined;
      }
    }
    return encoder.encodeInto(record, this.sink);
  }

  stageLine(line: string, parser: ExportLineParser, encoder: RecordEncoder): boolean {
    if (this.scanner === undefined || this.scannerRules !== parser.rules) {
      this.scannerRules = parser.rules;
      this.scanner = new PlainLineScanner(parser.rules, {
        keyFields: this.keyColumns.map((c) => c.field),
        ...(this.range ? { rangeField: this.range.field } : {}),
        asIsType: (field) => {
          const column = encoder.columnOf(field);
          return column !== undefined && this.isAsIs(column) ? column.type : undefined;
        },
      });
    }
    const doc = this.scanner.scan(line);
    if (doc === undefined) return false;
    this.keys.add(this.scanner.key);
    if (this.range !== undefined) {
      // The scan staged it in its TIMESTAMPTZ column as it is, so it fits (no need to check again).
      const value = this.scanner.rangeValue;
      if (value !== undefined) this.range.addStaged(value);
      else this.range.addValue(undefined);
    }
    this.appendDocument(doc);
    return true;
  }

  get rowsPending(): number {
    return this.rows;
  }

  get bufferedChars(): number {
    return this.text.length;
  }

  batchDone(): void {}

  async push(): Promise<void> {
    this.writeText();
    // The file is written by libuv's threads meanwhile; wait only when much is on its way.
    if (this.writesPending > MAX_WRITES_PENDING) await this.writing;
  }

  seal(isLast: boolean): DuckDBChunk | undefined {
    if (this.rows === 0) return undefined;
    this.writeText();
    const written = this.closeFile();
    const chunk: DuckDBChunk = {
      path: this.path,
      written,
      rows: this.rows,
      encodedColumns: [...this.encoded.values()],
      mayHaveDuplicates: this.keys.mayHaveDuplicates,
      mayRepeatEarlierChunk: this.keys.mayRepeatEarlierChunk,
      range: this.range?.take(),
      rescuedRows: this.rescuedRows,
      longest: this.longest,
    };
    if (!isLast) this.keys.sealInto();
    this.sealed.add(this.path);
    this.startChunk();
    return chunk;
  }

  async merge(staged: StagedChunk, plan: MergePlan): Promise<MergeCounts> {
    const chunk = staged as DuckDBChunk;
    try {
      await chunk.written;
      // The reader's columns: the plan's, those staged encoded, the sequence number and `_rescued`.
      const columnsRead = plan.columns.length + chunk.encodedColumns.length + 2;
      return await this.session.merging(columnsRead, () => this.mergeFile(chunk, plan), plan.hasPrimaryKey);
    } finally {
      this.sealed.delete(chunk.path);
      rmSync(chunk.path, { force: true });
    }
  }

  /** `merge` of a chunk whose file is complete. */
  private async mergeFile(chunk: DuckDBChunk, plan: MergePlan): Promise<MergeCounts> {
    const encoded = new Set(chunk.encodedColumns.map((c) => c.id));
    const structure = [`${SEQ_KEY}: 'BIGINT'`, `${RESCUED_KEY}: 'JSON'`];
    const values: string[] = [];
    for (const column of plan.columns) {
      const type = this.dialect.typeName(column.type);
      const sources: string[] = [];
      if (this.isAsIs(column)) {
        structure.push(`${quoteLiteral(column.field)}: ${quoteLiteral(type)}`);
        sources.push(quoteIdentifier(column.field));
      }
      if (encoded.has(column.id)) {
        structure.push(`${encodedName(column)}: ${quoteLiteral(type)}`);
        sources.push(encodedName(column));
      }
      values.push(
        sources.length === 0 ? `CAST(NULL AS ${type})` : sources.length === 1 ? sources[0]! : `coalesce(${sources.join(', ')})`,
      );
    }
    const objectSize = Math.max(MIN_OBJECT_SIZE, 2 ** Math.ceil(Math.log2(chunk.longest * 4 + 1024)));
    const source =
      `read_ndjson(${quoteLiteral(chunk.path)}, columns = {${structure.join(', ')}}, ` +
      `format = 'newline_delimited', maximum_object_size = ${objectSize})`;
    const targetColumns = [...plan.columns.map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN].map(quoteIdentifier);
    const keys = plan.keyColumns.map((c) => values[plan.columns.indexOf(c)]!);
    let touchedOldRows: boolean | undefined;
    if (keys.length > 0 && !plan.hasPrimaryKey) {
      touchedOldRows =
        plan.rangeColumn !== undefined && chunk.range !== undefined
          ? await this.earlierRows.delete(plan, `SELECT ${keys[0]!} FROM ${source}`, chunk.range, chunk.mayRepeatEarlierChunk)
          : await this.earlierRows.deleteKeys(plan, `SELECT ${keys.join(', ')} FROM ${source}`, chunk.mayRepeatEarlierChunk);
    }
    let sql =
      `INSERT INTO ${plan.target} (${targetColumns.join(', ')}) ` +
      `SELECT ${values.join(', ')}, ${RESCUED_KEY}, CAST(${quoteLiteral(plan.syncedAt)} AS TIMESTAMPTZ) FROM ${source}`;
    if (keys.length > 0 && chunk.mayHaveDuplicates) {
      // Documents before the chunk's first repeated key carry no number; their keys are unique and come first.
      sql += ` QUALIFY row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY coalesce(${SEQ_KEY}, -1) DESC) = 1`;
    }
    if (keys.length > 0 && plan.hasPrimaryKey && !plan.insertOnly) sql += upsertClause(plan);
    const rowsWritten = await this.session.execute(sql);
    // Without a repeated key every row of the chunk was written; otherwise commitCounts counts.
    const counts: MergeCounts = { rowsWritten, rowsRescued: chunk.mayHaveDuplicates ? Number.NaN : chunk.rescuedRows };
    return touchedOldRows === undefined ? counts : { ...counts, touchedOldRows };
  }

  async restore(plan: MergePlan, parquetPath: string): Promise<void> {
    const names = [...plan.columns.map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN].map(quoteIdentifier).join(', ');
    const source = `read_parquet(${quoteLiteral(parquetPath)})`;
    let sql = `INSERT INTO ${plan.target} (${names}) SELECT ${names} FROM ${source}`;
    if (plan.hasPrimaryKey) {
      sql += upsertClause(plan);
    } else if (plan.keyColumns.length > 0) {
      const keys = `SELECT ${plan.keyColumns.map((c) => quoteIdentifier(c.column)).join(', ')} FROM ${source}`;
      if (plan.rangeColumn !== undefined) await this.earlierRows.delete(plan, keys, await this.earlierRows.rangeOf(plan, source), false);
      else await this.earlierRows.deleteKeys(plan, keys, false);
    }
    await this.session.execute(sql);
  }

  async commitCounts(plan: MergePlan, merges: readonly MergeCounts[]): Promise<MergeCounts> {
    if (merges.length === 1 && !Number.isNaN(merges[0]!.rowsRescued)) return merges[0]!;
    // Every row this commit wrote carries its instant; DuckDB's zone maps skip older row groups.
    const rows = await this.session.queryBounded(
      `SELECT count(*) AS n, count(${quoteIdentifier(RESCUED_COLUMN)}) AS r FROM ${plan.target} ` +
        `WHERE ${quoteIdentifier(SYNCED_AT_COLUMN)} = CAST(${quoteLiteral(plan.syncedAt)} AS TIMESTAMPTZ)`,
    );
    return { rowsWritten: Number(rows[0]?.n ?? 0), rowsRescued: Number(rows[0]?.r ?? 0) };
  }

  async finish(): Promise<void> {}

  reset(): void {
    if (this.fd !== undefined) {
      void this.closeFile();
      rmSync(this.path, { force: true });
    }
    for (const path of this.sealed) rmSync(path, { force: true });
    this.sealed.clear();
    this.startChunk();
    this.transactionKeys?.reset();
    this.earlierRows.reset();
    this.seq = 0;
    this.scanner?.forget();
  }

  dispose(): void {
    this.reset();
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** Whether a column's values go under the field's own name: not when DuckDB would confuse the name with another. */
  private decideAsIs(column: LoadColumn): boolean {
    const name = column.field.toLowerCase();
    const asIs = name !== '' && !name.startsWith(RESERVED) && !this.asIsNames.has(name);
    if (asIs) this.asIsNames.add(name);
    this.asIs[column.id] = asIs;
    return asIs;
  }

  /** Appends a record's own JSON document (its key already added to `keys`), numbered once the chunk repeats a key. */
  private appendDocument(doc: string): void {
    if (this.keys.mayHaveDuplicates) this.numbered = true;
    if (this.numbered) doc = doc.length > 2 ? `{"${SEQ_KEY}":${this.seq},${doc.slice(1)}` : `{"${SEQ_KEY}":${this.seq}}`;
    this.append(doc);
  }

  private append(doc: string): void {
    this.seq++;
    this.rows++;
    if (doc.length > this.longest) this.longest = doc.length;
    this.text += `${doc}\n`;
    if (this.text.length >= WRITE_CHARS) this.writeText();
  }

  private startChunk(): void {
    this.text = '';
    this.doc = '';
    this.rows = 0;
    this.rescuedRows = 0;
    this.longest = 0;
    this.numbered = false;
    this.encoded = new Map();
    this.keys.reset();
    this.range?.take();
  }

  /** Appends the staged text to the open chunk file (opening it first), in the background (see `writing`). */
  private writeText(): void {
    if (this.text === '') return;
    if (this.fd === undefined) {
      this.dir ??= makeTempDir('stage');
      this.path = join(this.dir, `chunk-${this.fileCount++}.ndjson`);
      this.fd = openSync(this.path, 'w');
    }
    const fd = this.fd;
    const bytes = Buffer.from(this.text, 'utf8');
    this.text = '';
    this.writesPending++;
    this.setWriting(this.writing.then(() => writeAll(fd, bytes)).finally(() => this.writesPending--));
  }

  /** Closes the open chunk file once its writes are done; resolves then (rejects if a write failed). */
  private closeFile(): Promise<void> {
    const fd = this.fd!;
    this.fd = undefined;
    const written = this.writing.finally(() => closeFd(fd));
    written.catch(() => undefined); // awaited by merge, or dropped by reset
    this.setWriting(Promise.resolve());
    return written;
  }

  private setWriting(writing: Promise<void>): void {
    writing.catch(() => undefined); // reported by push or merge, which await it
    this.writing = writing;
  }
}

const writeFd = promisify(write);
const closeFd = promisify(close);

async function writeAll(fd: number, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length; ) {
    const { bytesWritten } = await writeFd(fd, bytes, offset, bytes.length - offset, null);
    offset += bytesWritten;
  }
}

/** ` ON CONFLICT (key) DO UPDATE SET` every other column: the upsert of a table with a primary key. */
function upsertClause(plan: MergePlan): string {
  // Not DELETE + INSERT: DuckDB 1.5 then fails the commit ("duplicate key") once a merge's rows went to disk.
  const keys = new Set(plan.keyColumns);
  const updated = [...plan.columns.filter((c) => !keys.has(c)).map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN]
    .map(quoteIdentifier)
    .map((name) => `${name} = excluded.${name}`);
  return ` ON CONFLICT (${plan.keyColumns.map((c) => quoteIdentifier(c.column)).join(', ')}) DO UPDATE SET ${updated.join(', ')}`;
}

function encodedName(column: LoadColumn): string {
  return quoteIdentifier(`${RESERVED}c${column.id}`);
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
