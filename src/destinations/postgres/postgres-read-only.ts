import pg from 'pg';
import { ConfigError, DestinationError, firstLine, redactSecrets } from '../../errors.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import type { QueryTable, ReadOnlyDatabase } from '../read-only.js';
import { parsePostgresUrl, postgresDialect } from './postgres-destination.js';
import { PostgresSession } from './postgres-session.js';

const INT8_OID = 20;

/** BIGINT as a number when exact, else a bigint (pg's default is a string). */
const QUERY_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => (Number.isSafeInteger(Number(value)) ? Number(value) : BigInt(value))
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Opens a PostgreSQL destination read-only: one connection whose transactions are all read only
 * (`default_transaction_read_only`), with `search_path` set to the URL's schema so that
 * unqualified table names work. Each query runs alone in a `BEGIN READ ONLY` transaction, as one
 * statement (the extended protocol refuses several).
 */
export async function openPostgresReadOnly(url: string): Promise<ReadOnlyDatabase> {
  const location = parsePostgresUrl(url);
  const pool = new pg.Pool({ connectionString: location.connectionString, max: 1 });
  pool.on('error', () => undefined);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
    await client.query('SET default_transaction_read_only = on');
    await client.query(`SET search_path TO ${quoteIdentifier(location.schema)}`);
  } catch (error) {
    await pool.end().catch(() => undefined);
    const message = redactSecrets(error instanceof Error ? error.message || String(error) : String(error));
    throw new DestinationError(`${location.description}: connecting failed: ${message}; check the URL and that the server runs`, {
      cause: error,
    });
  }
  const session = new PostgresSession(client, true);
  return {
    description: location.description,
    dialect: postgresDialect(location.schema),
    session,
    async exists() {
      const rows = await session.query('SELECT 1 AS found FROM pg_namespace WHERE nspname = $1', [location.schema]);
      return rows.length > 0;
    },
    async run(sql: string): Promise<QueryTable> {
      await client.query('BEGIN READ ONLY');
      try {
        // queryMode 'extended' (pg ≥ 8.12, not in its typings): one statement only, even without params.
        const config: pg.QueryArrayConfig & { queryMode: 'extended' } = { text: sql, rowMode: 'array', queryMode: 'extended', types: QUERY_TYPES };
        const result = await client.query(config);
        return { columns: result.fields.map((field) => field.name), rows: result.rows as unknown[][] };
      } catch (error) {
        throw new ConfigError(`query failed: ${redactSecrets(firstLine(error))}`, { cause: error });
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    },
    async close() {
      await session.close();
      await pool.end();
    },
  };
}
