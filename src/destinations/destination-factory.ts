import { ConfigError, redactSecrets } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { Destination } from './destination.js';
import type { ReadOnlyDatabase } from './read-only.js';

/** The destination URL forms, for messages. */
export const DESTINATION_FORMS = [
  'duckdb:PATH (e.g. duckdb:iterable.duckdb, the default)',
  'postgres://user:password@host:port/database?schema=NAME (or postgresql://; schema defaults to iterable)',
  'singer: or - (Singer messages on stdout)',
] as const;

export interface OpenDestinationOptions {
  logger?: Logger;
}

/**
 * The database destination for a URL, not yet opened (call `open()`): `duckdb:PATH` (also
 * `duckdb::memory:`) or `postgres://…` / `postgresql://…`. Singer output (`singer:`, `-`) is not
 * a database and is built by the CLI; any other form is a ConfigError listing the valid ones.
 * Each database's code (and its driver: DuckDB's library, `pg`) is loaded only for its own URLs.
 */
export async function openDestination(url: string, options: OpenDestinationOptions = {}): Promise<Destination> {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'duckdb') {
    let path = trimmed.slice('duckdb:'.length);
    if (path.startsWith('//')) path = path.slice(2); // duckdb:///abs/path
    if (path === '') throw new ConfigError(`destination ${trimmed} names no file; use duckdb:PATH, e.g. duckdb:iterable.duckdb`);
    const { DuckDBDestination } = await import('./duckdb/duckdb-destination.js');
    return new DuckDBDestination({ path, logger: options.logger });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresDestination } = await import('./postgres/postgres-destination.js');
    return new PostgresDestination({ url: trimmed, logger: options.logger });
  }
  const singer = trimmed === '-' || scheme === 'singer';
  throw new ConfigError(
    singer
      ? `destination ${trimmed} is Singer output, which the CLI writes itself (iterable-sync tap, or sync --destination ${trimmed})`
      : `unknown destination ${redactSecrets(trimmed) || '(empty)'}; valid forms: ${DESTINATION_FORMS.join('; ')}`,
  );
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
