import type { SqlDialect, SqlSession } from './sql/sql-dialect.js';

/**
 * A query's result with plain JS values: null, number, bigint (integers beyond ±2^53), boolean,
 * string, Date (TIMESTAMPTZ), parsed JSON (objects and arrays).
 */
export interface QueryTable {
  columns: string[];
  rows: unknown[][];
}

/**
 * A destination opened for reading only (`iterable-sync query`, `status`): nothing is created,
 * and nothing can be written. DuckDB: the file opened with `access_mode = READ_ONLY` (it must
 * exist); PostgreSQL: every transaction read only, `search_path` set to the URL's schema.
 */
export interface ReadOnlyDatabase {
  /** Password-free description, as the destination's. */
  readonly description: string;
  readonly dialect: SqlDialect;
  /** For the system tables' readers (`sql/system-tables.ts`). */
  readonly session: SqlSession;
  /** True when the destination holds its tables (the PostgreSQL schema exists). */
  exists(): Promise<boolean>;
  /** Runs one SQL statement; a statement the database refuses is a ConfigError (exit 2) with its words. */
  run(sql: string): Promise<QueryTable>;
  close(): Promise<void>;
}
