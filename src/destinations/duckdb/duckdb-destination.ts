import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ConnectorError, DestinationError } from '../../errors.js';
import type { Logger } from '../../iterable/types.js';
import type { SingerState, StreamBookmark } from '../../state/singer-state.js';
import type { Destination, LoadMode, RunEnd, RunRecord, RunStart, TableLoad, TableSpec } from '../destination.js';
import { columnTypeForSqlType, type ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { SqlDialect, SqlParam } from '../sql/sql-dialect.js';
import { SqlTableLoad } from '../sql/sql-table-load.js';
import { readRuns, readState, recordRunEnd, recordRunStart, resetState, seedState, systemTablesDdl } from '../sql/system-tables.js';
import { prepareTable } from '../sql/table-setup.js';
import { DuckDBSession } from './duckdb-session.js';
import { DuckDBStaging } from './duckdb-staging.js';
import { InstanceMemory, memoryLimitMbFor } from './instance-memory.js';
import { StatementGate } from './statement-gate.js';

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
  alterAfterUpdateFails: true,
  keysByLoader: true,
};

export interface DuckDBDestinationOptions {
  /** File path, or `:memory:` for a database that lives as long as the destination. */
  path: string;
  logger?: Logger;
  /** Staged rows from which a load merges them into the table, inside the open transaction (see `SqlTableLoadOptions`). */
  mergeMinRows?: number;
  mergeEveryRows?: number;
}

/** Catalog name of the database file in the instance (`USE`d by every connection). */
const FILE_CATALOG = 'iterable_sync';
/**
 * Row group size of the file's tables while iterable-sync writes them. DuckDB writes the rows an
 * uncommitted INSERT adds straight to the file ("optimistic writes") only when the statement
 * fills whole row groups; with DuckDB's default (122,880 rows) a merge of 60,000 rows would stay
 * in memory, uncompressed, until the commit (measured here: 1 GB and more for a 1,000,000-row
 * window). With row groups of 16,384 rows every merge goes to disk.
 */
const ROW_GROUP_SIZE = 16_384;
/**
 * A load merges from this many staged rows (see `SqlTableLoadOptions`): at least one row group per
 * merge, see above. What a merge holds in memory grows with its rows, so merges stay small.
 */
const DUCKDB_MERGE_MIN_ROWS = 30_000;
const DUCKDB_MERGE_EVERY_ROWS = 60_000;
/**
 * Instance settings, for memory that does not grow with the rows of a transaction:
 * - one thread: a merge then appends whole row groups to the transaction's (several threads leave
 *   a partial row group each, which the checkpoint at close rewrites, in memory); one thread
 *   also keeps up with the staging (measured: 3 s for 1,000,000 rows, about a third of the
 *   extraction's time); a file's instance runs one merge or COMMIT at a time anyway, under a
 *   memory limit of its own (see `InstanceMemory`);
 * - an INSERT buffers one row group before writing it (DuckDB's default: 5);
 * - return freed memory to the system promptly (DuckDB's allocator keeps it by default), also
 *   after freeing one large buffer (the JSON reader's are 32 MiB);
 * - a join builds its hash table on the side the query puts there: the only joins iterable-sync
 *   runs are a merge's `DELETE … WHERE key IN (keys of the chunk)`, whose table side DuckDB
 *   estimates from committed rows only, and swaps to the build side when the transaction's own
 *   rows are many (measured: +200 MB for 2,000,000 rows). The setting exists only for the whole
 *   instance, which is the sync's own.
 */
const INSTANCE_SETTINGS: Record<string, string> = {
  threads: '1',
  write_buffer_row_group_count: '1',
  disabled_optimizers: 'build_side_probe_side',
  allocator_flush_threshold: '8MB',
  allocator_bulk_deallocation_flush_threshold: '4MB',
  allocator_background_threads: 'true',
};

interface SharedInstance {
  instance: DuckDBInstance;
  gate: StatementGate;
  memory: InstanceMemory;
  users: number;
}

/**
 * One instance per file and process (two instances of a file would both write it): destinations
 * of the same file share it, and the last one to close closes it.
 */
const instances = new Map<string, Promise<SharedInstance>>();

async function acquireInstance(file: string): Promise<SharedInstance> {
  let shared = instances.get(file);
  if (shared === undefined) {
    shared = (async () => {
      // The file is attached to an in-memory instance (ATTACH takes the row group size); what
      // DuckDB spills goes where it would for the file itself.
      // Its memory limit is the smallest; loads raise it as their merges need (see InstanceMemory).
      const initialMb = memoryLimitMbFor(0);
      const instance = await DuckDBInstance.create(':memory:', {
        ...INSTANCE_SETTINGS,
        temp_directory: `${file}.tmp`,
        memory_limit: `${initialMb}MiB`,
      });
      try {
        const connection = await instance.connect();
        try {
          await connection.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdentifier(FILE_CATALOG)} (ROW_GROUP_SIZE ${ROW_GROUP_SIZE})`);
        } finally {
          connection.closeSync();
        }
      } catch (error) {
        instance.closeSync();
        throw error;
      }
      const gate = new StatementGate();
      const setLimit = async (mb: number) => {
        const connection = await instance.connect();
        try {
          await connection.run(`SET GLOBAL memory_limit = '${mb}MiB'`);
        } finally {
          connection.closeSync();
        }
      };
      return { instance, gate, memory: new InstanceMemory(gate, setLimit, initialMb), users: 0 };
    })();
    instances.set(file, shared);
    shared.catch(() => instances.delete(file));
  }
  const acquired = await shared;
  acquired.users++;
  return acquired;
}

function releaseInstance(file: string, shared: SharedInstance): void {
  shared.users--;
  if (shared.users > 0) return;
  instances.delete(file);
  shared.instance.closeSync();
}

/**
 * The embedded DuckDB file (`duckdb:PATH`). One DuckDB instance per file and process (shared by
 * the destinations of the file, see `acquireInstance`); the file is attached to it as catalog
 * `iterable_sync`, which every connection `USE`s. Each load has its own connection and
 * transaction, so loads of different tables run side by side. DuckDB allows one writing process
 * per file: a second process gets a DestinationError naming the PID that holds the file.
 */
export class DuckDBDestination implements Destination {
  readonly description: string;
  private instance: DuckDBInstance | undefined;
  private shared: SharedInstance | undefined;
  /** The statement gate of the instance (shared with the other destinations of the file). */
  private gate = new StatementGate();
  private readonly file: string | undefined;
  private readonly loads = new Set<SqlTableLoad>();

  constructor(private readonly options: DuckDBDestinationOptions) {
    this.description = `duckdb:${options.path}`;
    this.file = options.path === ':memory:' ? undefined : resolve(options.path);
  }

  async open(): Promise<void> {
    if (this.instance) return;
    const { path } = this.options;
    try {
      if (this.file === undefined) {
        this.instance = await DuckDBInstance.create(':memory:', INSTANCE_SETTINGS);
      } else {
        this.shared = await acquireInstance(this.file);
        this.instance = this.shared.instance;
        this.gate = this.shared.gate;
      }
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

  recordRunStart(run: RunStart): Promise<void> {
    return this.withSession('recording the run', (session) => recordRunStart(session, duckdbDialect, run));
  }

  recordRunEnd(run: RunEnd): Promise<void> {
    return this.withSession('recording the end of the run', (session) => recordRunEnd(session, duckdbDialect, run));
  }

  readRuns(limit?: number): Promise<RunRecord[]> {
    return this.withSession('reading the run history', (session) => readRuns(session, duckdbDialect, limit));
  }

  seedState(bookmarks: Readonly<Record<string, StreamBookmark>>): Promise<string[]> {
    return this.withSession('storing the bookmarks of the state file', (session) => seedState(session, duckdbDialect, bookmarks));
  }

  async beginLoad(table: TableSpec, mode: LoadMode): Promise<TableLoad> {
    const session = await this.connect();
    try {
      const prepared = await prepareTable(session, duckdbDialect, table);
      const load: SqlTableLoad = new SqlTableLoad({
        session,
        dialect: duckdbDialect,
        staging: new DuckDBStaging(session, duckdbDialect, prepared),
        spec: table,
        table: prepared,
        mode,
        description: this.description,
        mergeMinRows: this.options.mergeMinRows ?? DUCKDB_MERGE_MIN_ROWS,
        mergeEveryRows: this.options.mergeEveryRows ?? DUCKDB_MERGE_EVERY_ROWS,
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
    if (this.shared !== undefined) releaseInstance(this.file!, this.shared);
    else this.instance?.closeSync();
    this.instance = undefined;
    this.shared = undefined;
  }

  private async connect(): Promise<DuckDBSession> {
    if (!this.instance) throw new DestinationError(`${this.description} is not open; call open() first`);
    const connection = await this.instance.connect();
    if (this.file !== undefined) {
      try {
        await connection.run(`USE ${quoteIdentifier(FILE_CATALOG)}`);
      } catch (error) {
        connection.closeSync();
        throw error;
      }
    }
    return new DuckDBSession(connection, this.gate, this.shared?.memory);
  }

  private async withSession<T>(action: string, operation: (session: DuckDBSession) => Promise<T>): Promise<T> {
    const session = await this.connect();
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
