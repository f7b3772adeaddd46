import type { TextRules } from './cell-values.js';
import type { ColumnNameRules } from './column-names.js';
import type { ColumnType } from './column-types.js';
import type { EncodedRow } from './record-encoder.js';
import type { LoadColumn } from './table-columns.js';

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
}

/** How a load hands rows to the database and merges them into the table at commit. */
export interface RowStaging {
  /** Adds encoded rows; called inside the load's transaction. */
  append(rows: readonly EncodedRow[]): Promise<void>;
  /** Moves the staged rows into the table, deduplicated on the key (the last staged wins). */
  merge(plan: MergePlan): Promise<{ rowsWritten: number; rowsRescued: number }>;
  /** Statements to run before COMMIT (e.g. drop the staging table). */
  finish(): Promise<void>;
  /** The transaction ended (commit or rollback): nothing is staged any more. */
  reset(): void;
}

/** What `RowStaging.merge` writes. */
export interface MergePlan {
  /** Quoted, qualified table name. */
  target: string;
  /** Every mapped column of the table (columns no row staged are written as NULL). */
  columns: readonly LoadColumn[];
  /** Key columns; empty for a table without key (rows are appended). */
  keyColumns: readonly LoadColumn[];
  /** The commit's instant, ISO 8601 UTC, for `_synced_at`. */
  syncedAt: string;
  /** Insert without upsert: the table was emptied first (replace mode). */
  tableWasEmptied: boolean;
  /** Some staged row has rescued values (else rowsRescued is 0 without counting). */
  anyRescued: boolean;
}
