import { ConfigError, redactSecrets } from '../errors.js';
import { DESTINATION_FORMS } from './destination-factory.js';
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

/** Opens `duckdb:PATH` or `postgres://…` read-only (loading that database's code only). */
export async function openReadOnly(url: string): Promise<ReadOnlyDatabase> {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'duckdb') {
    let path = trimmed.slice('duckdb:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '' || path === ':memory:') {
      throw new ConfigError(`destination ${trimmed} names no file; use duckdb:PATH, e.g. duckdb:iterable.duckdb`);
    }
    const { openDuckDBReadOnly } = await import('./duckdb/duckdb-read-only.js');
    return openDuckDBReadOnly(path);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { openPostgresReadOnly } = await import('./postgres/postgres-read-only.js');
    return openPostgresReadOnly(trimmed);
  }
  throw new ConfigError(
    trimmed === '-' || scheme === 'singer'
      ? `destination ${trimmed} is Singer output, which holds no tables to read; use a duckdb: or postgres:// destination`
      : `unknown destination ${redactSecrets(trimmed) || '(empty)'}; valid forms: ${DESTINATION_FORMS.slice(0, 2).join('; ')}`,
  );
}

/** The first line of an error's message (DuckDB adds the statement and a caret below it). */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').find((line) => line.trim() !== '')?.trim() ?? message;
}
