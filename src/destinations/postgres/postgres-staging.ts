import { closingQuote, FlatDocument, recordOf, type FlatShape, type Row } from '../../core/rows.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { LineChunks } from '../sql/line-chunks.js';
import type { RecordEncoder, RowSink } from '../sql/record-encoder.js';
import type { RowStaging, SqlDialect, StagedPart, StagedSource } from '../sql/sql-dialect.js';
import type { LoadColumn } from '../sql/table-columns.js';
import type { PostgresSession } from './postgres-session.js';

const STAGE = '_iterable_sync_stage';
const STAGE_QUALIFIED = `pg_temp.${quoteIdentifier(STAGE)}`;
/** Characters of COPY text a COPY carries at least (but the part's last). */
const COPY_MIN_CHARS = 1 << 20;

/** A connection with its own temp staging table. */
interface Slot {
  session: PostgresSession;
  created: boolean;
  /** Columns of its staging table, by id. */
  stageColumns: Map<number, LoadColumn>;
}

/** Rows of one COPY: the columns they carry values for, in COPY order, and their text. */
interface Segment {
  columns: LoadColumn[];
  chunks: Buffer[];
}

/**
 * PostgreSQL staging: a typed temp table of the load's session with one column `c<id>` per field
 * that had a value, filled by `COPY … FROM STDIN` (text format) as the rows arrive (the load runs
 * each COPY while it fetches the next batch). Values are already canonical (see `cellText`), so
 * the COPY cannot fail on a type. The part's commit reads the table and empties it. Measured
 * here, typed COPY beat staging JSON documents and converting them with `jsonb_to_record` by
 * about 1.5×. Given two sessions, parts alternate between them: the next part is COPYed on one
 * while the previous part commits on the other (the part commits on its own session).
 */
export class PostgresStaging implements RowStaging {
  private readonly sink: RowSink;
  private readonly slots: Slot[];
  /** The slot the rows being staged go to. */
  private slot: Slot;
  /** Columns of the COPY being built, in order, and their position by column id. */
  private order: LoadColumn[] = [];
  private position: number[] = [];
  /** The row being built: sequence number, rescued, then the columns of `order`. */
  private cells: string[] = ['', '\\N'];
  /** COPY text of the segment being built (a COPY's buffers are reused once it ends). */
  private readonly text = new LineChunks();
  private segments: Segment[] = [];
  private seq = 0;
  rows = 0;
  chars = 0;
  /** `chars` when rows were last taken for a COPY. */
  private takenChars = 0;
  private rescuedRows = 0;
  /**
   * The column of each field of a flat document's shape (undefined for a null), or null when the
   * shape's documents go the long way (decided once per shape; forgotten at reset: columns may go).
   */
  private shapes = new Map<FlatShape, FlatPlan | null>();

  constructor(
    sessions: readonly PostgresSession[],
    private readonly dialect: SqlDialect,
    private readonly keyColumns: readonly LoadColumn[],
  ) {
    this.slots = sessions.map((session) => ({ session, created: false, stageColumns: new Map() }));
    this.slot = this.slots[0]!;
    this.sink = {
      cell: (column, text) => {
        let at = this.position[column.id];
        if (at === undefined) at = this.addColumn(column);
        // Canonical numbers, booleans and instants never need escaping.
        this.cells[at] = column.type === 'text' || column.type === 'json' ? escapeCopyText(text) : text;
      },
      endRow: (rescued) => {
        const { cells } = this;
        cells[0] = String(this.seq++);
        cells[1] = rescued === null ? '\\N' : escapeCopyText(rescued);
        if (rescued !== null) this.rescuedRows++;
        this.writeLine(cells.join('\t'));
        cells.fill('\\N', 2);
        this.rows++;
      },
    };
  }

  stage(row: Row, encoder: RecordEncoder): string | undefined {
    if (row instanceof FlatDocument) {
      let plan = this.shapes.get(row.shape);
      if (plan === undefined) {
        plan = encoder.shapeFitsAsIs(row.shape, () => true) ? flatPlan(row.shape, encoder) : null;
        this.shapes.set(row.shape, plan);
      }
      if (plan !== null && this.stageFlat(row.text, plan)) return undefined;
      return encoder.encodeInto(recordOf(row), this.sink);
    }
    return encoder.encodeInto(row, this.sink);
  }

  /**
   * Stages a flat document whose shape fits the columns as it is, straight from its text (no
   * record is built: `JSON.parse` and the cell checks were the largest cost of the load's thread,
   * measured): a string's content, any other value's JSON text (a JSON column's value with its
   * quotes), which is the text `cellText` gives for such a kind. Strings of a flat document have
   * no escapes nor control characters, so only JSON values need COPY escaping. False (nothing
   * staged) for a JSON value with `\u0000`, which PostgreSQL's jsonb refuses (`cellText` replaces it).
   */
  private stageFlat(text: string, plan: FlatPlan): boolean {
    const { columns, ends, keyLengths } = plan;
    let i = 1;
    for (let f = 0; f < columns.length; f++) {
      while (text.charCodeAt(i) !== QUOTE) i++; // past `,` and spaces
      i += keyLengths[f]!; // the key and its quotes (no escapes)
      while (text.charCodeAt(i) !== COLON) i++;
      i++;
      while (text.charCodeAt(i) === SPACE) i++;
      const start = i;
      const kind = ends[f];
      // The shape tells how each value ends: the `Set` of scalar ends asked per character cost 0.3 µs a row (measured).
      const end =
        kind === QUOTED
          ? text.indexOf('"', i + 1) + 1
          : kind === SCALAR
            ? scalarEnd(text, i)
            : f === columns.length - 1
              ? lastValueEnd(text, i)
              : jsonValueEnd(text, i);
      if (end <= start) {
        this.cells.fill('\\N', 2);
        return false;
      }
      i = end;
      const column = columns[f];
      if (column === undefined) continue;
      let at = this.position[column.id];
      if (at === undefined) at = this.addColumn(column);
      if (column.type === 'json') {
        const value = text.slice(start, end);
        if (kind === NESTED && value.includes('\\u0000')) {
          this.cells.fill('\\N', 2);
          return false;
        }
        this.cells[at] = escapeCopyText(value);
      } else this.cells[at] = kind === QUOTED ? text.slice(start + 1, end - 1) : text.slice(start, end);
    }
    this.sink.endRow(null);
    return true;
  }

  take(all = false): (() => Promise<void>) | undefined {
    this.closeSegment();
    const segments = this.segments;
    // Few large COPYs: each costs round trips on the load's connection (500 of 2,000 rows each
    // held a 1,000,000-row window back by seconds, measured).
    if (segments.length === 0 || (!all && this.takenChars + COPY_MIN_CHARS > this.chars)) return undefined;
    this.takenChars = this.chars;
    this.segments = [];
    const slot = this.slot;
    return async () => {
      // One COPY for consecutive segments with the same columns.
      for (let i = 0; i < segments.length; ) {
        const { columns } = segments[i]!;
        const chunks: Buffer[] = [];
        for (; i < segments.length && segments[i]!.columns === columns; i++) chunks.push(...segments[i]!.chunks);
        await this.copy(slot, { columns, chunks });
        this.text.reuse(chunks);
      }
    };
  }

  seal(): StagedPart {
    const slot = this.slot;
    const part: PostgresPart = { rows: this.rows, rescuedRows: this.rescuedRows, session: slot.session, slot };
    // The next part stages on the other session (the load waits for this part's commit before the one after).
    this.slot = this.slots[(this.slots.indexOf(slot) + 1) % this.slots.length]!;
    this.rows = 0;
    this.chars = 0;
    this.takenChars = 0;
    this.rescuedRows = 0;
    return part;
  }

  source(part: StagedPart, columns: readonly LoadColumn[]): StagedSource {
    const { stageColumns } = (part as PostgresPart).slot;
    const value = (c: LoadColumn) => (stageColumns.has(c.id) ? `s.${field(c)}` : `NULL::${this.dialect.typeName(c.type)}`);
    const keys = this.keyColumns.filter((c) => columns.includes(c));
    return {
      relation: `${STAGE_QUALIFIED} AS s`,
      value,
      rescued: 's._rescued',
      order: 's._seq',
      keys: `SELECT ${keys.map((c, i) => `${value(c)} AS k${i}`).join(', ')} FROM ${STAGE_QUALIFIED} AS s`,
      keysUnique: false,
    };
  }

  afterMerge(): string[] {
    return [`TRUNCATE ${STAGE_QUALIFIED}`];
  }

  release(): void {}

  reset(): (() => Promise<void>) | undefined {
    this.order = [];
    this.position = [];
    this.cells = ['', '\\N'];
    this.text.clear();
    this.segments = [];
    this.rows = 0;
    this.chars = 0;
    this.takenChars = 0;
    this.rescuedRows = 0;
    this.shapes = new Map();
    const created = this.slots.filter((slot) => slot.created);
    this.slot = this.slots[0]!;
    if (created.length === 0) return undefined;
    return async () => {
      for (const slot of created) await slot.session.execute(`TRUNCATE ${STAGE_QUALIFIED}`);
    };
  }

  dispose(): void {
    void this.reset();
  }

  /** A column the COPY being built lacks: the rows so far go to a COPY of their own. */
  private addColumn(column: LoadColumn): number {
    this.closeSegment();
    this.order = [...this.order, column];
    this.position[column.id] = this.cells.length;
    this.cells.push('\\N');
    return this.cells.length - 1;
  }

  private closeSegment(): void {
    this.text.cut();
    const chunks = this.text.take();
    if (chunks.length > 0) this.segments.push({ columns: this.order, chunks });
  }

  /** Writes a row's COPY line (and its newline). */
  private writeLine(line: string): void {
    this.chars += line.length + 1;
    this.text.writeLine(line);
  }

  private async copy(slot: Slot, segment: Segment): Promise<void> {
    const { session, stageColumns } = slot;
    if (!slot.created) {
      await session.execute(`CREATE TEMP TABLE IF NOT EXISTS ${quoteIdentifier(STAGE)} (_seq bigint, _rescued jsonb)`);
      slot.created = true;
    }
    const added = segment.columns.filter((column) => !stageColumns.has(column.id));
    if (added.length > 0) {
      const additions = added.map((c) => `ADD COLUMN ${field(c)} ${this.dialect.typeName(c.type)}`);
      await session.execute(`ALTER TABLE ${STAGE_QUALIFIED} ${additions.join(', ')}`);
      for (const column of added) stageColumns.set(column.id, column);
    }
    const columns = ['_seq', '_rescued', ...segment.columns.map((c) => `c${c.id}`)].map(quoteIdentifier);
    await session.copyIn(`COPY ${STAGE_QUALIFIED} (${columns.join(', ')}) FROM STDIN`, segment.chunks);
  }
}

/** A part, with the slot whose temp table holds its rows. */
interface PostgresPart extends StagedPart {
  readonly slot: Slot;
}

/** How `stageFlat` reads the documents of a flat shape, per field in order. */
interface FlatPlan {
  /** The field's column; undefined for a null value. */
  columns: readonly (LoadColumn | undefined)[];
  /** How the value ends: `QUOTED`, `SCALAR` or `NESTED`. */
  ends: Uint8Array;
  /** Characters of the key with its quotes. */
  keyLengths: readonly number[];
}

/** A string (or instant), a number, boolean or null, an array or object. */
const QUOTED = 0;
const SCALAR = 1;
const NESTED = 2;

function flatPlan(shape: FlatShape, encoder: RecordEncoder): FlatPlan {
  const { fields, kinds } = shape;
  const ends = Uint8Array.from(kinds, (kind) =>
    kind === 'string' || kind === 'instant' ? QUOTED : kind === 'array' || kind === 'object' ? NESTED : SCALAR,
  );
  return {
    columns: fields.map((field, i) => (kinds[i] === 'null' ? undefined : encoder.columnOf(field))),
    ends,
    keyLengths: fields.map((field) => field.length + 2),
  };
}

const QUOTE = 0x22;
const COLON = 0x3a;
const SPACE = 0x20;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

/** The index after the number, `true`, `false` or `null` at `i`: at `,`, `}`, whitespace or the end. */
function scalarEnd(text: string, i: number): number {
  const length = text.length;
  for (i++; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2c || c === 0x7d || c <= SPACE) return i;
  }
  return i;
}

/** The index after the JSON array or object at `i` (strings in it may hold escapes), or -1. */
function jsonValueEnd(text: string, i: number): number {
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i + 1);
      if (i < 0) return -1;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * The index after the value at `i` that is the document's last (its text ends with `}` and maybe
 * whitespace), or -1: an array or object there is not scanned (`transactionalData`, often last,
 * was 4% of the load's thread, measured).
 */
function lastValueEnd(text: string, i: number): number {
  let end = text.lastIndexOf('}');
  while (end > i && text.charCodeAt(end - 1) <= SPACE) end--;
  return end > i ? end : -1;
}

function field(column: LoadColumn): string {
  return quoteIdentifier(`c${column.id}`);
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Escapes a value for COPY's text format (backslash, newline, carriage return, tab). */
export function escapeCopyText(text: string): string {
  return COPY_SPECIAL.test(text) ? text.replace(/[\\\n\r\t]/g, (char) => COPY_ESCAPES[char]!) : text;
}
