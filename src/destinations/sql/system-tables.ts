import { StateError } from '../../errors.js';
import { emptyState, type SingerState, type StreamBookmark } from '../../state/singer-state.js';
import type { RejectedRecord } from '../../core/types.js';
import type { RunEnd, RunOutcome, RunRecord, RunStart, RunStreamRecord } from '../destination.js';
import { cleanText } from './cell-values.js';
import { quoteLiteral } from './identifiers.js';
import type { SqlDialect, SqlSession } from './sql-dialect.js';

/** One row per stream: its bookmark, written in the same transaction as the rows it covers. */
export const STATE_TABLE = '_iterable_sync_state';
/** field → column of every stream table (see `ColumnNameMapper`). */
export const COLUMNS_TABLE = '_iterable_sync_columns';
/** Export lines that were not records, and records without a usable key. */
export const REJECTED_TABLE = '_rejected';

/** One row per sync run: written as `running` when it starts, finished when it ends. */
export const RUNS_TABLE = '_iterable_sync_runs';
/** One row per stream of a finished run: its status and counts. */
export const RUN_STREAMS_TABLE = '_iterable_sync_run_streams';

/** Longest `raw` text kept in `_rejected`, in UTF-16 code units. */
export const MAX_REJECTED_RAW_CHARS = 1_000_000;

/** CREATE TABLE IF NOT EXISTS statements of the system tables. */
export function systemTablesDdl(dialect: SqlDialect): string[] {
  const text = dialect.typeName('text');
  const json = dialect.typeName('json');
  const timestamp = dialect.typeName('timestamptz');
  return [
    `CREATE TABLE IF NOT EXISTS ${dialect.table(STATE_TABLE)} (stream ${text} PRIMARY KEY, bookmark ${json}, updated_at ${timestamp})`,
    `CREATE TABLE IF NOT EXISTS ${dialect.table(COLUMNS_TABLE)} (table_name ${text} NOT NULL, field ${text} NOT NULL, column_name ${text} NOT NULL, PRIMARY KEY (table_name, field))`,
    `CREATE TABLE IF NOT EXISTS ${dialect.table(REJECTED_TABLE)} (stream ${text}, source ${text}, reason ${text}, raw ${text}, _synced_at ${timestamp})`,
    ...runTablesDdl(dialect),
  ];
}

/**
 * The run history: a row per run, and a child row per stream of the run (plain columns rather
 * than a JSON column, so that `where stream = 'email_send'` and `sum(rows)` work alike in DuckDB
 * and PostgreSQL).
 */
function runTablesDdl(dialect: SqlDialect): string[] {
  const text = dialect.typeName('text');
  const bigint = dialect.typeName('bigint');
  const double = dialect.typeName('double');
  const timestamp = dialect.typeName('timestamptz');
  return [
    `CREATE TABLE IF NOT EXISTS ${dialect.table(RUNS_TABLE)} (run_id ${text} PRIMARY KEY, started_at ${timestamp} NOT NULL, ` +
      `ended_at ${timestamp}, outcome ${text} NOT NULL, exit_code ${bigint}, streams ${text}, ` +
      `rows ${bigint}, rescued ${bigint}, rejected ${bigint}, error ${text})`,
    `CREATE TABLE IF NOT EXISTS ${dialect.table(RUN_STREAMS_TABLE)} (run_id ${text} NOT NULL, stream ${text} NOT NULL, ` +
      `status ${text} NOT NULL, rows ${bigint}, rows_read ${bigint}, rescued ${bigint}, rejected ${bigint}, ` +
      `seconds ${double}, error ${text}, PRIMARY KEY (run_id, stream))`,
  ];
}

/** Records the start of a run (outcome `running`). */
export async function recordRunStart(session: SqlSession, dialect: SqlDialect, run: RunStart): Promise<void> {
  const timestamp = dialect.typeName('timestamptz');
  await session.execute(
    `INSERT INTO ${dialect.table(RUNS_TABLE)} (run_id, started_at, outcome, streams) VALUES ($1, CAST($2 AS ${timestamp}), 'running', $3)`,
    [run.runId, run.startedAt.toISOString(), run.streams.join(',')],
  );
}

/** Records the end of a run and its streams' results, in one transaction. */
export async function recordRunEnd(session: SqlSession, dialect: SqlDialect, run: RunEnd): Promise<void> {
  const timestamp = dialect.typeName('timestamptz');
  const clean = (value: string | null | undefined) => (value == null ? null : cleanText(value, dialect.textRules.replaceNul));
  const total = (pick: (r: RunStreamRecord) => number) => run.results.reduce((n, r) => n + pick(r), 0);
  await session.execute('BEGIN');
  try {
    for (const r of run.results) {
      await session.execute(
        `INSERT INTO ${dialect.table(RUN_STREAMS_TABLE)} (run_id, stream, status, rows, rows_read, rescued, rejected, seconds, error) ` +
          `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [run.runId, r.stream, r.status, r.rows, r.rowsRead, r.rescued, r.rejected, r.seconds, clean(r.error)],
      );
    }
    await session.execute(
      `UPDATE ${dialect.table(RUNS_TABLE)} SET ended_at = CAST($2 AS ${timestamp}), outcome = $3, exit_code = $4, ` +
        `rows = $5, rescued = $6, rejected = $7, error = $8 WHERE run_id = $1`,
      [
        run.runId,
        run.endedAt.toISOString(),
        run.outcome,
        run.exitCode,
        total((r) => r.rows),
        total((r) => r.rescued),
        total((r) => r.rejected),
        clean(run.error),
      ],
    );
    await session.execute('COMMIT');
  } catch (error) {
    await session.execute('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** True when the destination has the table (a database written by an older version may lack the run tables). */
export async function hasSystemTable(session: SqlSession, dialect: SqlDialect, name: string): Promise<boolean> {
  const rows = await session.query(
    `SELECT 1 AS found FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`,
    [dialect.schemaName, name],
  );
  return rows.length > 0;
}

/** The latest `limit` runs, newest first, with their streams' results. */
export async function readRuns(session: SqlSession, dialect: SqlDialect, limit = 20): Promise<RunRecord[]> {
  const runs = await session.query(
    `SELECT * FROM ${dialect.table(RUNS_TABLE)} ORDER BY started_at DESC, run_id DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  if (runs.length === 0) return [];
  const ids = runs.map((row) => String(row.run_id));
  const streams = await session.query(
    `SELECT * FROM ${dialect.table(RUN_STREAMS_TABLE)} WHERE run_id IN (${ids.map((_, i) => `$${i + 1}`).join(', ')}) ORDER BY stream`,
    ids,
  );
  return runs.map((row) => ({
    runId: String(row.run_id),
    startedAt: row.started_at as Date,
    endedAt: (row.ended_at as Date | null) ?? null,
    outcome: String(row.outcome) as RunOutcome,
    exitCode: row.exit_code == null ? null : Number(row.exit_code),
    streams: row.streams ? String(row.streams).split(',') : [],
    rows: Number(row.rows ?? 0),
    rescued: Number(row.rescued ?? 0),
    rejected: Number(row.rejected ?? 0),
    error: row.error == null ? null : String(row.error),
    results: streams.filter((s) => s.run_id === row.run_id).map(streamRecord),
  }));
}

/** A stream's result in its latest recorded run, with that run's times and outcome. */
export interface LatestStreamRun extends RunStreamRecord {
  runId: string;
  startedAt: Date;
  endedAt: Date | null;
  outcome: RunOutcome;
}

/** Each stream's result in the latest run that recorded one for it (with `status`: one with that status). */
export async function readLatestStreamRuns(
  session: SqlSession,
  dialect: SqlDialect,
  status?: string,
): Promise<Map<string, LatestStreamRun>> {
  const rows = await session.query(
    `SELECT * FROM (SELECT s.*, r.started_at, r.ended_at, r.outcome, ` +
      `row_number() OVER (PARTITION BY s.stream ORDER BY r.started_at DESC, r.run_id DESC) AS latest ` +
      `FROM ${dialect.table(RUN_STREAMS_TABLE)} s JOIN ${dialect.table(RUNS_TABLE)} r ON r.run_id = s.run_id` +
      `${status === undefined ? '' : ' WHERE s.status = $1'}) t WHERE latest = 1`,
    status === undefined ? [] : [status],
  );
  return new Map(
    rows.map((row) => [
      String(row.stream),
      {
        ...streamRecord(row),
        runId: String(row.run_id),
        startedAt: row.started_at as Date,
        endedAt: (row.ended_at as Date | null) ?? null,
        outcome: String(row.outcome) as RunOutcome,
      },
    ]),
  );
}

function streamRecord(row: Record<string, unknown>): RunStreamRecord {
  return {
    stream: String(row.stream),
    status: String(row.status),
    rows: Number(row.rows ?? 0),
    rowsRead: Number(row.rows_read ?? 0),
    rescued: Number(row.rescued ?? 0),
    rejected: Number(row.rejected ?? 0),
    seconds: Number(row.seconds ?? 0),
    error: row.error == null ? null : String(row.error),
  };
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

/**
 * Stores bookmarks for the streams that have none, in one statement (so one transaction); a
 * stream that has a bookmark keeps it. Returns the streams stored.
 */
export async function seedState(
  session: SqlSession,
  dialect: SqlDialect,
  bookmarks: Readonly<Record<string, StreamBookmark>>,
): Promise<string[]> {
  const entries = Object.entries(bookmarks);
  if (entries.length === 0) return [];
  const json = dialect.typeName('json');
  const timestamp = dialect.typeName('timestamptz');
  const at = new Date().toISOString();
  const values = entries.map(
    ([stream, bookmark]) =>
      `(${quoteLiteral(stream)}, CAST(${quoteLiteral(JSON.stringify(bookmark))} AS ${json}), CAST(${quoteLiteral(at)} AS ${timestamp}))`,
  );
  const rows = await session.query(
    `INSERT INTO ${dialect.table(STATE_TABLE)} (stream, bookmark, updated_at) VALUES ${values.join(', ')} ` +
      `ON CONFLICT (stream) DO NOTHING RETURNING stream`,
  );
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

/** Multi-row INSERT of `count` rejected records into `_rejected` (params: `rejectedParams`), stamped `at`. */
export function storeRejectedSql(dialect: SqlDialect, count: number, at: string): string {
  const stamp = `CAST(${quoteLiteral(at)} AS ${dialect.typeName('timestamptz')})`;
  const rows = Array.from({ length: count }, (_, i) => `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4}, ${stamp})`);
  return `INSERT INTO ${dialect.table(REJECTED_TABLE)} (stream, source, reason, raw, _synced_at) VALUES ${rows.join(', ')}`;
}

/** Params for `storeRejectedSql`, the records as rejected from `stream`'s load: raw text truncated to `MAX_REJECTED_RAW_CHARS`. */
export function rejectedParams(stream: string, records: readonly RejectedRecord[], clean: (text: string) => string): string[] {
  return records.flatMap((record) => {
    const raw =
      record.raw.length > MAX_REJECTED_RAW_CHARS
        ? `${record.raw.slice(0, MAX_REJECTED_RAW_CHARS)}…[truncated ${record.raw.length - MAX_REJECTED_RAW_CHARS} characters]`
        : record.raw;
    return [clean(stream), clean(record.source), clean(record.reason), clean(raw)];
  });
}
