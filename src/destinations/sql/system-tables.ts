import { StateError } from '../../errors.js';
import { emptyState, type SingerState, type StreamBookmark } from '../../state/singer-state.js';
import type { RejectedRecord } from '../destination.js';
import { cleanText } from './cell-values.js';
import { quoteLiteral } from './identifiers.js';
import type { SqlDialect, SqlSession } from './sql-dialect.js';

/** One row per stream: its bookmark, written in the same transaction as the rows it covers. */
export const STATE_TABLE = '_iterable_sync_state';
/** field → column of every stream table (see `ColumnNameMapper`). */
export const COLUMNS_TABLE = '_iterable_sync_columns';
/** Export lines that were not records, and records without a usable key. */
export const REJECTED_TABLE = '_rejected';

/** Longest `raw` text kept in `_rejected`, in UTF-16 code units. */
export const MAX_REJECTED_RAW_CHARS = 1_000_000;

/** CREATE TABLE IF NOT EXISTS statements of the three system tables. */
export function systemTablesDdl(dialect: SqlDialect): string[] {
  const text = dialect.typeName('text');
  const json = dialect.typeName('json');
  const timestamp = dialect.typeName('timestamptz');
  return [
    `CREATE TABLE IF NOT EXISTS ${dialect.table(STATE_TABLE)} (stream ${text} PRIMARY KEY, bookmark ${json}, updated_at ${timestamp})`,
    `CREATE TABLE IF NOT EXISTS ${dialect.table(COLUMNS_TABLE)} (table_name ${text} NOT NULL, field ${text} NOT NULL, column_name ${text} NOT NULL, PRIMARY KEY (table_name, field))`,
    `CREATE TABLE IF NOT EXISTS ${dialect.table(REJECTED_TABLE)} (stream ${text}, source ${text}, reason ${text}, raw ${text}, _synced_at ${timestamp})`,
  ];
}

/** Reads every stored bookmark into Singer state. */
export async function readState(session: SqlSession, dialect: SqlDialect): Promise<SingerState> {
  const state = emptyState();
  const rows = await session.query(`SELECT stream, bookmark FROM ${dialect.table(STATE_TABLE)} ORDER BY stream`);
  for (const row of rows) {
    const stream = String(row.stream);
    // A NULL (SQL or JSON) bookmark is refused below: a load never writes one.
    let bookmark: unknown = row.bookmark ?? null;
    try {
      if (typeof bookmark === 'string') bookmark = JSON.parse(bookmark);
    } catch {
      bookmark = undefined;
    }
    if (!isBookmark(bookmark)) {
      throw new StateError(
        `the stored bookmark of stream "${stream}" in ${dialect.table(STATE_TABLE)} is not an object of ISO instants (got ${JSON.stringify(bookmark) ?? String(bookmark)}); ` +
          `run \`iterable-sync reset --streams ${stream}\` to re-read the stream`,
      );
    }
    state.bookmarks[stream] = bookmark;
  }
  return state;
}

function isBookmark(value: unknown): value is StreamBookmark {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === 'string')
  );
}

/** Deletes the bookmarks of these streams (all when omitted); returns the streams that had one. */
export async function resetState(
  session: SqlSession,
  dialect: SqlDialect,
  streams?: readonly string[],
): Promise<string[]> {
  if (streams !== undefined && streams.length === 0) return [];
  const where = streams === undefined ? '' : ` WHERE stream IN (${streams.map((_, i) => `$${i + 1}`).join(', ')})`;
  const rows = await session.query(`DELETE FROM ${dialect.table(STATE_TABLE)}${where} RETURNING stream`, streams ?? []);
  return rows.map((row) => String(row.stream)).sort();
}

/** Upsert of one stream's bookmark (a statement of the commit transaction). */
export function storeBookmarkSql(dialect: SqlDialect, stream: string, bookmark: StreamBookmark, at: string): string {
  const json = dialect.typeName('json');
  const timestamp = dialect.typeName('timestamptz');
  return (
    `INSERT INTO ${dialect.table(STATE_TABLE)} (stream, bookmark, updated_at) ` +
    `VALUES (${quoteLiteral(stream)}, CAST(${quoteLiteral(JSON.stringify(bookmark))} AS ${json}), CAST(${quoteLiteral(at)} AS ${timestamp})) ` +
    `ON CONFLICT (stream) DO UPDATE SET bookmark = excluded.bookmark, updated_at = excluded.updated_at`
  );
}

/** Upsert of mapping rows `[field, column]` of a table. */
export function storeColumnMappingSql(
  dialect: SqlDialect,
  table: string,
  mappings: readonly (readonly [field: string, column: string])[],
): string {
  const literal = (text: string) => quoteLiteral(cleanText(text, dialect.textRules.replaceNul));
  const values = mappings
    .map(([field, column]) => `(${literal(table)}, ${literal(field)}, ${literal(column)})`)
    .join(', ');
  return (
    `INSERT INTO ${dialect.table(COLUMNS_TABLE)} (table_name, field, column_name) VALUES ${values} ` +
    `ON CONFLICT (table_name, field) DO UPDATE SET column_name = excluded.column_name`
  );
}

/** Temp table holding a load's rejected records until commit (source, reason, raw). */
export const REJECTED_STAGE = '_iterable_sync_rejected_stage';

/** Multi-row INSERT of rejected records into the temp table, with params. */
export function stageRejectedSql(dialect: SqlDialect, count: number): string {
  const rows = Array.from({ length: count }, (_, i) => `($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3})`);
  return `INSERT INTO ${dialect.tempTable(REJECTED_STAGE)} (source, reason, raw) VALUES ${rows.join(', ')}`;
}

/** Params for `stageRejectedSql`: raw text truncated to `MAX_REJECTED_RAW_CHARS`. */
export function rejectedParams(records: readonly RejectedRecord[], clean: (text: string) => string): string[] {
  return records.flatMap((record) => {
    const raw =
      record.raw.length > MAX_REJECTED_RAW_CHARS
        ? `${record.raw.slice(0, MAX_REJECTED_RAW_CHARS)}…[truncated ${record.raw.length - MAX_REJECTED_RAW_CHARS} characters]`
        : record.raw;
    return [clean(record.source), clean(record.reason), clean(raw)];
  });
}

/** Moves the staged rejected records of a stream into `_rejected`. */
export function storeRejectedSql(dialect: SqlDialect, stream: string, at: string): string {
  return (
    `INSERT INTO ${dialect.table(REJECTED_TABLE)} (stream, source, reason, raw, _synced_at) ` +
    `SELECT ${quoteLiteral(stream)}, source, reason, raw, CAST(${quoteLiteral(at)} AS ${dialect.typeName('timestamptz')}) ` +
    `FROM ${dialect.tempTable(REJECTED_STAGE)}`
  );
}
