import type { Row } from '../../core/rows.js';
import type { TextRules } from './cell-values.js';
import type { ColumnNameRules } from './column-names.js';
import type { ColumnType } from './column-types.js';
import type { RecordEncoder } from './record-encoder.js';
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
  /**
   * How a merge keeps the last staged row of each key: `not-exists` (DuckDB: rows whose key a
   * later row repeats are left out; `QUALIFY row_number()` holds every row in memory and failed
   * with "Out of Memory" for 150,000 rows under 76 MiB) or `distinct-on` (PostgreSQL:
   * `DISTINCT ON (key) … ORDER BY key, order DESC`).
   */
  readonly dedupe: 'not-exists' | 'distinct-on';
  /**
   * Whether an error is the database refusing one statement that writes a key twice (PostgreSQL:
   * `ON CONFLICT DO UPDATE command cannot affect row a second time`, or a unique violation): a
   * merge into a table with primary key then tries the rows as they are first (see `mergePart` in
   * table-load.ts). Undefined: the merge deduplicates whenever `repeatedKeys` shows a key twice.
   */
  isRepeatedKeyError?(error: unknown): boolean;
  /**
   * Keyed tables get no primary key (DuckDB, which holds a primary key's whole index in memory):
   * an upsert deletes the rows of the staged keys, then inserts.
   */
  readonly keyedWithoutPrimaryKey?: boolean;
  /**
   * Collation of the text key columns of the tables the load creates (PostgreSQL `"C"`: byte
   * order, where the database's locale makes every comparison of the primary key go through
   * libc); a table created before keeps its columns.
   */
  readonly keyCollation?: string;
}

/** The staged rows of a part, as SQL for a merge (see `merge-sql.ts`). */
export interface StagedSource {
  /** The relation, aliased `s`: `read_ndjson(…) WITH ORDINALITY AS s`, `pg_temp.stage AS s`. */
  relation: string;
  /** The value of a column in a staged row (an expression over `s`), NULL of its type when the part has none. */
  value(column: LoadColumn): string;
  /** `_rescued` of a staged row. */
  rescued: string;
  /** The write order of a staged row (the last row of a key wins). */
  order: string;
  /** `SELECT k0, k1, … FROM …`: the part's keys (each at least once), for the DELETE of an upsert. */
  keys: string;
  /** A query of `n`, the keys staged more than once in the part, when the staging can tell cheaply. */
  repeatedKeys?: string;
  /** No key is staged twice in the part: its rows need no deduplication (see `repeatedKeys`). */
  keysUnique: boolean;
}

/** The rows staged between two part commits. */
export interface StagedPart {
  readonly rows: number;
  /** Rows staged with a rescued value. */
  readonly rescuedRows: number;
  /** The connection holding the staged rows, when not the load's: the part commits on it. */
  readonly session?: SqlSession;
}

/**
 * How a load hands rows to the database before a part commit merges them (see README.md,
 * "Loading a window"): DuckDB writes a newline-delimited JSON file, PostgreSQL COPYs into a
 * temp table.
 */
export interface RowStaging {
  /** Stages one row; returns why it cannot be stored (its key is unusable), or undefined. */
  stage(row: Row, encoder: RecordEncoder): string | undefined;
  /** Rows staged since the last `seal`. */
  readonly rows: number;
  /** Characters staged since the last `seal`. */
  readonly chars: number;
  /**
   * Work that hands the rows staged so far to the database over the load's session, to run after
   * the work taken before (undefined: none yet, or the staging does it without the session).
   * `all`: every row staged (before `seal`); otherwise the staging may wait for more.
   */
  take(all?: boolean): (() => Promise<void>) | undefined;
  /** Closes the rows staged so far into a part (after `take`). */
  seal(): StagedPart;
  /** The part as SQL, for a merge into a table with these columns. */
  source(part: StagedPart, columns: readonly LoadColumn[]): StagedSource;
  /** Statements of the part's commit transaction after the merge (e.g. emptying the stage). */
  afterMerge(part: StagedPart): string[];
  /** The part is committed or dropped: release what holds its rows. */
  release(part: StagedPart): void;
  /** Forgets the rows staged and not sealed (rollback); returns work for the session, if any. */
  reset(): (() => Promise<void>) | undefined;
  /** The load is closed: release files and memory. */
  dispose(): void;
}
