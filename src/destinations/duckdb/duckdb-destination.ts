import { resolve } from 'node:path';
import { DuckDBInstance } from './duckdb-library.js';
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
import { DuckDBStaging, type DuckDBPart } from './duckdb-staging.js';

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
 * Rows of a row group of the file (`ATTACH … (ROW_GROUP_SIZE)`; DuckDB's default is 122,880). An
 * INSERT holds one row group uncompressed before writing it: a quarter of the default lowered a
 * 1,000,000-row sync's peak RSS by 14 MB (measured in pairs; README "Development").
 */
const ROW_GROUP_ROWS = 30_720;
/**
 * A part of a window commits from this many staged rows (or `PART_CHARS` characters of JSON):
 * whole row groups, which each part's INSERT writes straight to the file; rows of a partial
 * row group go to the WAL and cost a checkpoint (3.3 s of the closing of a 1,000,000-row sync
 * in parts of 145,000 rows, measured).
 */
const PART_ROWS = 4 * ROW_GROUP_ROWS;
const PART_CHARS = 96 * 1024 * 1024;
/**
 * Instance settings, for memory that does not grow with the rows of a window:
 * - one thread: the load's JS runs on the other core; `WITH ORDINALITY` numbers the staged rows
 *   in file order;
 * - a memory limit (see `memoryLimitMbFor`);
 * - an INSERT buffers one row group before writing it (DuckDB's default: 5);
 * - return freed memory to the system promptly (see also `duckdb-allocator.ts`).
 */
const INSTANCE_SETTINGS: Record<string, string> = {
  threads: '1',
  write_buffer_row_group_count: '1',
  allocator_flush_threshold: '8MB',
  allocator_bulk_deallocation_flush_threshold: '4MB',
  allocator_background_threads: 'true',
};

/**
 * The memory limit (MiB) for commits into a table of `columns` columns whose staged documents
 * average `rowChars` characters. DuckDB keeps the blocks it reads and writes cached up to its
 * limit (80% of RAM by default), so the limit is most of its memory. Measured (parts of 122,880
 * rows): `email_send`, 21 columns of about 470 characters a row, failed under 21 MiB and passed
 * under 25; 22 columns of 12,000 characters failed under 43 and passed under 62; of 24,000
 * failed under 63 and passed under 102. A vector of 2,048 such rows is what grows with them,
 * hence the last term. A commit that runs out of memory may leave the instance unusable
 * ("database has been invalidated"), so the limit is not found by trying: it is raised before a
 * part commits when that part needs more, and never lowered (DuckDB also allocates outside
 * statements); a file's part commits run one at a time so that their memory never adds up.
 */
export function memoryLimitMbFor(columns: number, rowChars = 0): number {
  return 16 + columns + Math.ceil((2 * 2048 * rowChars) / 2 ** 20);
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
      // the file itself.
      const limitMb = memoryLimitMbFor(20);
      const instance = await DuckDBInstance.create(':memory:', {
        ...INSTANCE_SETTINGS,
        temp_directory: `${file}.tmp`,
        memory_limit: `${limitMb}MiB`,
      });
      try {
        const connection = await instance.connect();
        try {
          await connection.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdentifier(FILE_CATALOG)} (ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`);
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

/** Runs a part commit after the instance's others, under a memory limit it fits (see `memoryLimitMbFor`). */
function commitAlone(shared: SharedInstance, columns: number, commit: () => Promise<void>, part: DuckDBPart): Promise<void> {
  const run = async (): Promise<void> => {
    const needed = memoryLimitMbFor(columns, part.rows > 0 ? part.chars / part.rows : 0);
    if (needed > shared.limitMb) {
      shared.limitMb = needed;
      await setMemoryLimit(shared);
    }
    await commit();
  };
  const done = shared.committing.then(run, run);
  shared.committing = done.catch(() => undefined);
  return done;
}

async function setMemoryLimit(shared: SharedInstance): Promise<void> {
  const connection = await shared.instance.connect();
  try {
    await connection.run(`SET GLOBAL memory_limit = '${shared.limitMb}MiB'`);
  } finally {
    connection.closeSync();
  }
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
        // The table's columns as the part commits (`_rescued`, `_synced_at` included): a load may add some.
        ...(shared === undefined
          ? {}
          : { committing: (commit, part) => commitAlone(shared, prepared.columns.all().length + 2, commit, part as DuckDBPart) }),
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
