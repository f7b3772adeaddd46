import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DestinationError } from '../../errors.js';
import type { Logger } from '../../core/types.js';
import type { LoadMode, TableLoad, TableSpec } from '../destination.js';
import { columnTypeForSqlType, type ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import { systemTablesDdl } from '../sql/system-tables.js';
import { SqlDestination } from '../sql/sql-destination.js';
import { SqlTableLoad } from '../sql/table-load.js';
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
  dedupe: 'not-exists',
  keyedWithoutPrimaryKey: true,
};

export interface DuckDBDestinationOptions {
  /** File path, or `:memory:` for a database that lives as long as the destination. */
  path: string;
  logger?: Logger;
  /** Rows (default `PART_ROWS`) from which an upsert load commits what it staged (see `SqlTableLoadOptions`). */
  partRows?: number;
}

/** Catalog name of the database file in the instance (`USE`d by every connection). */
const FILE_CATALOG = 'iterable_sync';
/**
 * A part of a window commits from this many staged rows (or `PART_CHARS` characters of JSON):
 * DuckDB's row group size, so that each part's INSERT writes whole row groups straight to the
 * file; rows of a partial row group go to the WAL and cost a checkpoint (3.3 s of the closing
 * of a 1,000,000-row sync in parts of 145,000 rows, measured).
 */
const PART_ROWS = 122_880;
const PART_CHARS = 96 * 1024 * 1024;
/**
 * Instance settings, for memory that does not grow with the rows of a window:
 * - one thread: the load's JS runs on the other core; `WITH ORDINALITY` numbers the staged rows
 *   in file order;
 * - a memory limit (see `memoryLimitMbFor`);
 * - an INSERT buffers one row group before writing it (DuckDB's default: 5);
 * - return freed memory to the system promptly (DuckDB's allocator keeps it by default).
 */
const INSTANCE_SETTINGS: Record<string, string> = {
  threads: '1',
  write_buffer_row_group_count: '1',
  allocator_flush_threshold: '8MB',
  allocator_bulk_deallocation_flush_threshold: '4MB',
  allocator_background_threads: 'true',
};

/**
 * The memory limit (MiB) for commits into a table of `columns` columns. DuckDB keeps the blocks
 * it writes cached until its limit (80% of RAM by default: about 100 MB more every million rows),
 * and an INSERT needs about 1 MiB per column of its table besides the JSON reader's buffers and
 * the part's last row group (measured: 250 columns in 20,000-row parts fail under 128 MiB and
 * pass under 306; `email_send`, 20 columns, in parts of 122,880 rows failed under 76 when every
 * part was deduplicated). The limit
 * is raised for the widest table loaded, never lowered (DuckDB also allocates outside
 * statements), and a file's part commits run one at a time so that theirs never add up.
 */
export function memoryLimitMbFor(columns: number): number {
  return 80 + columns;
}

interface SharedInstance {
  instance: DuckDBInstance;
  users: number;
  limitMb: number;
  /** The part commit running, if any (see `memoryLimitMbFor`). */
  committing: Promise<unknown>;
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
      // The file is attached to an in-memory instance; what DuckDB spills goes where it would for
      // the file itself. DuckDB's own row group size: every part commits by itself (row groups of
      // 16,384 rows made a 55,000-row INSERT take 549 ms instead of 97, measured here).
      const limitMb = memoryLimitMbFor(20);
      const instance = await DuckDBInstance.create(':memory:', {
        ...INSTANCE_SETTINGS,
        temp_directory: `${file}.tmp`,
        memory_limit: `${limitMb}MiB`,
      });
      try {
        const connection = await instance.connect();
        try {
          await connection.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdentifier(FILE_CATALOG)}`);
        } finally {
          connection.closeSync();
        }
      } catch (error) {
        instance.closeSync();
        throw error;
      }
      return { instance, users: 0, limitMb, committing: Promise.resolve() };
    })();
    instances.set(file, shared);
    shared.catch(() => instances.delete(file));
  }
  const acquired = await shared;
  acquired.users++;
  return acquired;
}

/** Runs a part commit after the instance's others (see `memoryLimitMbFor`). */
function commitAlone(shared: SharedInstance, commit: () => Promise<void>): Promise<void> {
  const done = shared.committing.then(commit, commit);
  shared.committing = done.catch(() => undefined);
  return done;
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
export class DuckDBDestination extends SqlDestination<DuckDBSession> {
  readonly description: string;
  protected readonly dialect = duckdbDialect;
  private instance: DuckDBInstance | undefined;
  private shared: SharedInstance | undefined;
  private readonly file: string | undefined;

  constructor(private readonly options: DuckDBDestinationOptions) {
    super();
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
      }
    } catch (error) {
      throw openError(path, error);
    }
    await this.withSession('creating the system tables', async (session) => {
      for (const statement of systemTablesDdl(duckdbDialect)) await session.execute(statement);
    });
  }

  async beginLoad(table: TableSpec, mode: LoadMode): Promise<TableLoad> {
    const session = await this.connect();
    try {
      const prepared = await prepareTable(session, duckdbDialect, table);
      const shared = this.shared;
      const columns = prepared.columns.all().length + 2;
      if (shared !== undefined && memoryLimitMbFor(columns) > shared.limitMb) {
        shared.limitMb = memoryLimitMbFor(columns);
        await session.execute(`SET GLOBAL memory_limit = '${shared.limitMb}MiB'`);
      }
      const load: SqlTableLoad = new SqlTableLoad({
        session,
        dialect: duckdbDialect,
        staging: new DuckDBStaging(duckdbDialect, prepared.keyColumns),
        spec: table,
        table: prepared,
        mode,
        description: this.description,
        partRows: this.options.partRows ?? PART_ROWS,
        partChars: PART_CHARS,
        ...(shared === undefined ? {} : { committing: (commit) => commitAlone(shared, commit) }),
        onClose: () => this.loads.delete(load),
      });
      this.loads.add(load);
      return load;
    } catch (error) {
      await session.close();
      throw this.wrap(error, `preparing table "${table.name}"`);
    }
  }

  async close(): Promise<void> {
    await this.closeLoads();
    if (this.shared !== undefined) releaseInstance(this.file!, this.shared);
    else this.instance?.closeSync();
    this.instance = undefined;
    this.shared = undefined;
  }

  protected async connect(): Promise<DuckDBSession> {
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
    return new DuckDBSession(connection);
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
