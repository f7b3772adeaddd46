import type { TextRules } from './cell-values.js';
import type { ColumnNameRules } from './column-names.js';
import type { ColumnType } from './column-types.js';
import type { JsonRecord } from '../destination.js';
import type { RecordEncoder } from './record-encoder.js';
import type { LoadColumn } from './table-columns.js';
import type { ExportLineParser } from '../../streams/export-lines.js';

/** A value bound to a `$n` placeholder. */
export type SqlParam = string | number | boolean | null;

/**
 * One database connection. Rows come back as plain JS values: BIGINT as bigint, TIMESTAMPTZ as
 * Date, JSON parsed, DOUBLE as number, BOOLEAN as boolean, text as string.
 */
export interface SqlSession {
  /** Runs a statement (several, separated by `;`, when there are no params); returns rows changed by the last. */
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
  query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]>;
  /** COMMITs the open transaction (`execute('COMMIT')` when absent). */
  commit?(): Promise<void>;
  close(): Promise<void>;
}

/** What differs in the SQL of DuckDB and PostgreSQL, outside staging. */
export interface SqlDialect {
  /** `DuckDB` or `PostgreSQL`, for messages. */
  readonly product: string;
  readonly columnNames: ColumnNameRules;
  readonly textRules: TextRules;
  /** The SQL type of a column type (BIGINT, DOUBLE, …; JSON is JSONB in PostgreSQL). */
  typeName(type: ColumnType): string;
  /** The column type for a type as information_schema reports it. */
  columnType(dataType: string): ColumnType;
  /** Quoted, schema-qualified name of a table of the destination. */
  table(name: string): string;
  /** Name of the destination's schema, as information_schema reports it. */
  readonly schemaName: string;
  /** SQL returning rows `{ column_name }` of a table's primary key, in key order. */
  primaryKeySql(table: string): string;
  /** Statements run first in a DDL transaction, to serialise DDL across processes (PostgreSQL). */
  readonly ddlLockSql?: string;
  /** CREATE TEMP TABLE for a table that disappears at the end of the transaction (or is dropped before commit). */
  createTempTable(name: string, columns: string): string;
  /** Quoted name of a temp table. */
  tempTable(name: string): string;
  /** True when temp tables must be dropped before COMMIT (DuckDB has no ON COMMIT DROP). */
  readonly dropsTempTablesBeforeCommit: boolean;
  /**
   * DuckDB: a transaction that updated or deleted committed rows of a table cannot commit after
   * an `ALTER TABLE` of that table ("another transaction has altered this table"). A load then
   * replays its transaction (see `SqlTableLoad`) when a new field needs a column after such a merge.
   */
  readonly alterAfterUpdateFails?: boolean;
  /**
   * PostgreSQL: `ALTER TABLE … ADD COLUMN` locks the table against readers until the transaction
   * ends. A load then stops merging while a new field waits for its column: the rows stay staged
   * and the commit adds the column and merges them, as briefly as before.
   */
  readonly alterLocksTable?: boolean;
  /**
   * DuckDB: keyed tables get no primary key, whose index DuckDB holds in memory (a transaction's
   * share of it until the commit; the whole index, which has to fit, for every upsert). The loader
   * keeps the keys unique instead: a merge deletes the earlier rows of its keys, then inserts (see
   * `EarlierRows`). When the key determines the replication key, those rows are looked for only
   * in the chunk's range of it (see `MergePlan.rangeColumn`).
   */
  readonly keysByLoader?: boolean;
}

/** What a merge wrote: rows of the table written (after deduplication) and how many of them have `_rescued`. */
export interface MergeCounts {
  rowsWritten: number;
  rowsRescued: number;
  /**
   * Merges into keyed tables without primary key (`SqlDialect.keysByLoader`): whether the merge
   * may have deleted rows committed before the transaction. Undefined: the load counts rows to find out.
   */
  touchedOldRows?: boolean;
}

/**
 * How a load hands rows to the database and moves them into the table (see README.md,
 * "Transactions"). Rows reach the staging through `stage` (synchronously, in write order); `push`
 * hands what the staging holds to the database side (a file, a COPY); `seal` + `merge` move every
 * row received so far into the table, inside the load's transaction. The load calls `merge`
 * every few tens of thousands of rows (and at commit), so memory and the commit's own work stay
 * bounded whatever the number of rows between two commits.
 */
export interface RowStaging {
  /** Stages one record (usually `encoder.encodeInto(record, sink)`); returns why it cannot be stored, or undefined. */
  stage(record: JsonRecord, encoder: RecordEncoder): string | undefined;
  /**
   * Optional fast path for an export line: stages it without building its record when it can
   * (true), as `stage(parser.parse(line))` would have; false leaves the line to the caller.
   */
  stageLine?(line: string, parser: ExportLineParser, encoder: RecordEncoder): boolean;
  /** Rows received since the last `seal`. */
  readonly rowsPending: number;
  /** Characters of staged rows held in JS (not pushed yet). */
  readonly bufferedChars: number;
  /** True when `push` runs statements on the load's session (so no other statement may run meanwhile). */
  readonly pushUsesSession: boolean;
  /** The rows of one `write` were staged (a chance to compact what the staging holds in JS). */
  batchDone(): void;
  /** Hands the rows the staging holds to the database side; inside the load's transaction. */
  push(): Promise<void>;
  /**
   * Closes the rows received so far into a chunk for `merge` (undefined when there are none).
   * Synchronous. `isLast`: the transaction merges no other chunk after it (the commit's).
   */
  seal(isLast: boolean): StagedChunk | undefined;
  /** Moves a sealed chunk into the table, keeping the last row of each key. */
  merge(chunk: StagedChunk, plan: MergePlan): Promise<MergeCounts>;
  /**
   * The counts of the whole commit, from the counts of its merges (a key written by two merges
   * is one row of the commit). Called before COMMIT when at least one merge ran.
   */
  commitCounts(plan: MergePlan, merges: readonly MergeCounts[]): Promise<MergeCounts>;
  /**
   * Writes back the rows a replay saved (see `SqlTableLoad`, DuckDB only): a Parquet file with
   * the plan's columns, `_rescued` and `_synced_at`, one row per key, none of which the table holds
   * in the (new) transaction; each replaces the committed row of its key, if any.
   */
  restore?(plan: MergePlan, parquetPath: string): Promise<void>;
  /** Statements to run before COMMIT (e.g. drop the staging table). */
  finish(): Promise<void>;
  /** The transaction ended (commit or rollback): nothing is staged any more. */
  reset(): void;
  /** The load is closed: release files and memory. */
  dispose(): void;
}

/** Rows closed by `RowStaging.seal`, waiting for `merge`; each staging has its own kind. */
export interface StagedChunk {
  readonly rows: number;
}

/** What `RowStaging.merge` writes. */
export interface MergePlan {
  /** Quoted, qualified table name. */
  target: string;
  /** Every column of the table a field is mapped to (columns the chunk has no value for are written as NULL). */
  columns: readonly LoadColumn[];
  /** Key columns; empty for a table without key (rows are appended). */
  keyColumns: readonly LoadColumn[];
  /** The table has a primary key on `keyColumns` (merges upsert on it); without it, a keyed table is keyed by the loader (`SqlDialect.keysByLoader`). */
  hasPrimaryKey: boolean;
  /**
   * A table keyed by the loader whose key determines the replication key: the TIMESTAMPTZ column
   * of the replication key, so a key's earlier row has the same value there.
   */
  rangeColumn?: LoadColumn;
  /** The commit's instant, ISO 8601 UTC with microseconds, for `_synced_at`; unique to the commit within the load. */
  syncedAt: string;
  /** Plain insert, no upsert: the table was emptied by this transaction and nothing was merged since. */
  insertOnly: boolean;
  /** The table was emptied by this transaction: no row committed before it is left. */
  tableEmptied: boolean;
}
