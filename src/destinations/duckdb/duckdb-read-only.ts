import { existsSync } from 'node:fs';
import { DuckDBDecimalValue, DuckDBInstance, DuckDBTimestampTZValue, type DuckDBValue } from './duckdb-library.js';
import { ConfigError, DestinationError, firstLine } from '../../errors.js';
import type { QueryTable, ReadOnlyDatabase } from '../read-only.js';
import { duckdbDialect } from './duckdb-destination.js';
import { DuckDBSession } from './duckdb-session.js';

/**
 * Opens a DuckDB file read-only. DuckDB lets one process write a file and nobody else open it
 * meanwhile, not even read-only: during a sync this fails with a message that says so.
 */
export async function openDuckDBReadOnly(path: string): Promise<ReadOnlyDatabase> {
  if (!existsSync(path)) {
    throw new ConfigError(
      `no DuckDB file at ${path}; run \`iterable-sync sync\` first, or name the file with --destination duckdb:PATH`,
    );
  }
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const lock = /Conflicting lock is held in (.*?) \(PID (\d+)\)/s.exec(message);
    if (lock) {
      throw new DestinationError(
        `database file ${path} is in use by a running sync or another DuckDB process (PID ${lock[2]}): DuckDB lets no ` +
          `other process open a file, even read-only, while one writes it; query it after the sync ends, or sync into ` +
          `PostgreSQL to read during syncs`,
        { cause: error },
      );
    }
    throw new DestinationError(`cannot open DuckDB database file ${path} read-only: ${message}`, { cause: error });
  }
  const connection = await instance.connect();
  const session = new DuckDBSession(connection);
  return {
    description: `duckdb:${path}`,
    dialect: duckdbDialect,
    session,
    exists: async () => true,
    async run(sql: string): Promise<QueryTable> {
      let reader;
      try {
        reader = await connection.runAndReadAll(sql);
      } catch (error) {
        throw new ConfigError(`query failed: ${firstLine(error)}`, { cause: error });
      }
      const isJson = reader.columnTypes().map((type) => type.alias === 'JSON');
      return {
        columns: reader.columnNames(),
        rows: reader.getRows().map((values) => values.map((value, i) => plainValue(value, isJson[i] ?? false))),
      };
    },
    async close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

function plainValue(value: DuckDBValue, isJson: boolean): unknown {
  if (value === null) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (typeof value !== 'object') {
    if (isJson && typeof value === 'string') {
      try {
        return JSON.parse(value);
      } catch {
        return value;
      }
    }
    return value;
  }
  if (value instanceof DuckDBTimestampTZValue) {
    if (!value.isFinite) return value.toString();
    const { micros } = value;
    return new Date(Number(micros / 1000n - (micros % 1000n < 0n ? 1n : 0n)));
  }
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  return value.toString();
}
