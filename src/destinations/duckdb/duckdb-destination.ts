import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ConnectorError, DestinationError } from '../../errors.js';
import type { Logger } from '../../iterable/types.js';
import type { SingerState } from '../../state/singer-state.js';
import type { Destination, LoadMode, TableLoad, TableSpec } from '../destination.js';
import { columnTypeForSqlType, type ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { SqlDialect, SqlParam } from '../sql/sql-dialect.js';
import { SqlTableLoad } from '../sql/sql-table-load.js';
import { readState, resetState, systemTablesDdl } from '../sql/system-tables.js';
import { prepareTable } from '../sql/table-setup.js';
import { DuckDBSession } from './duckdb-session.js';
import { DuckDBStaging } from './duckdb-staging.js';

const DUCKDB_TYPES: Record<ColumnType, string> = {
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamptz: 'TIMESTAMPTZ',
  text: 'VARCHAR',
  json: 'JSON',
};

/** DuckDB's SQL: tables in the file's `main` schema; identifiers compared ignoring ASCII case. */
export const duckdbDialect: SqlDialect = {
  product: 'DuckDB',
  columnNames: { foldsAsciiCase: true },
  textRules: { replaceNul: false },
  typeName: (type) => DUCKDB_TYPES[type],
  columnType: columnTypeForSqlType,
  table: (name) => quoteIdentifier(name),
  schemaName: 'main',
  primaryKeySql: (table) =>
    `SELECT unnest(constraint_column_names) AS column_name FROM duckdb_constraints() ` +
    `WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ${quoteLiteral(table)} ` +
    `AND constraint_type = 'PRIMARY KEY'`,
  createTempTable: (name, columns) => `CREATE TEMP TABLE ${quoteIdentifier(name)} (${columns})`,
  tempTable: (name) => `temp.main.${quoteIdentifier(name)}`,
  dropsTempTablesBeforeCommit: true,
};

export interface DuckDBDestinationOptions {
  /** File path, or `:memory:` for a database that lives as long as the destination. */
  path: string;
  logger?: Logger;
}

/**
 * The embedded DuckDB file (`duckdb:PATH`). One DuckDB instance per file and process (shared
 * through DuckDB's instance cache); each load has its own connection and transaction, so loads
 * of different tables run side by side. DuckDB allows one writing process per file: a second
 * process gets a DestinationError naming the PID that holds the file.
 */
export class DuckDBDestination implements Destination {
  readonly description: string;
  private instance: DuckDBInstance | undefined;
  private readonly loads = new Set<SqlTableLoad>();

  constructor(private readonly options: DuckDBDestinationOptions) {
    this.description = `duckdb:${options.path}`;
  }

  async open(): Promise<void> {
    if (this.instance) return;
    const { path } = this.options;
    try {
      // The cache shares one instance per file in this process (two instances of a file would
      // both write it); it is keyed by path, hence the absolute path.
      this.instance =
        path === ':memory:' ? await DuckDBInstance.create(':memory:') : await DuckDBInstance.fromCache(resolve(path));
    } catch (error) {
      throw openError(path, error);
    }
    await this.withSession('creating the system tables', async (session) => {
      for (const statement of systemTablesDdl(duckdbDialect)) await session.execute(statement);
    });
  }

  readState(): Promise<SingerState> {
    return this.withSession('reading the bookmarks', (session) => readState(session, duckdbDialect));
  }

  resetState(streams?: readonly string[]): Promise<string[]> {
    return this.withSession('forgetting bookmarks', (session) => resetState(session, duckdbDialect, streams));
  }

  async beginLoad(table: TableSpec, mode: LoadMode): Promise<TableLoad> {
    const session = new DuckDBSession(await this.connect());
    try {
      const prepared = await prepareTable(session, duckdbDialect, table);
      const load: SqlTableLoad = new SqlTableLoad({
        session,
        dialect: duckdbDialect,
        staging: new DuckDBStaging(session, duckdbDialect),
        spec: table,
        table: prepared,
        mode,
        description: this.description,
        onClose: () => this.loads.delete(load),
      });
      this.loads.add(load);
      return load;
    } catch (error) {
      await session.close();
      throw this.wrap(error, `preparing table "${table.name}"`);
    }
  }

  /**
   * Runs a query on a connection of its own and returns plain rows (BIGINT as bigint,
   * TIMESTAMPTZ as Date, JSON parsed). For tests and tools; not part of Destination.
   */
  query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return this.withSession('running a query', (session) => session.query(sql, params));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.loads].map((load) => load.close()));
    this.instance?.closeSync();
    this.instance = undefined;
  }

  private async connect() {
    if (!this.instance) throw new DestinationError(`${this.description} is not open; call open() first`);
    return this.instance.connect();
  }

  private async withSession<T>(action: string, operation: (session: DuckDBSession) => Promise<T>): Promise<T> {
    const session = new DuckDBSession(await this.connect());
    try {
      return await operation(session);
    } catch (error) {
      throw this.wrap(error, action);
    } finally {
      await session.close();
    }
  }

  private wrap(error: unknown, action: string): Error {
    if (error instanceof ConnectorError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new DestinationError(`${this.description}: ${action} failed: ${message}`, { cause: error });
  }
}

/** A clear message for the lock held by another process; DuckDB's own text otherwise. */
function openError(path: string, error: unknown): DestinationError {
  const message = error instanceof Error ? error.message : String(error);
  const lock = /Could not set lock on file .*?Conflicting lock is held in (.*?) \(PID (\d+)\)/s.exec(message);
  if (lock) {
    return new DestinationError(
      `database file ${path} is in use by another iterable-sync or DuckDB process (PID ${lock[2]}, ${lock[1]}); ` +
        `wait for it to finish or use another file`,
      { cause: error },
    );
  }
  return new DestinationError(
    `cannot open DuckDB database file ${path}: ${message}; check that its folder exists and is writable`,
    { cause: error },
  );
}
