import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { quoteLiteral } from '../sql/identifiers.js';
import type { StatementGate } from './statement-gate.js';

/** Memory DuckDB may keep cached after a merge (see `InstanceMemory.release`). */
const CACHE_FLOOR = '16MB';
/**
 * Memory a scanning statement may use on top of what the instance holds and cannot evict (see
 * `InstanceMemory.bounded`): the blocks it reads, a hash table of a chunk's keys, small buffers.
 */
const SCAN_HEADROOM_BYTES = 48 * 2 ** 20;

/**
 * The memory limit of a file's DuckDB instance, which iterable-sync lowers for a moment at times:
 * DuckDB keeps the blocks of the file it wrote or read cached until memory runs short (the
 * default limit is 80% of the machine's), so a long transaction's merges and scans would pile them
 * up. Lowering the limit is DuckDB's only way to evict, and it applies to the whole instance, so
 * it happens while no other statement of the instance runs (`StatementGate.exclusive`), on a
 * connection of its own (a failed SET would abort a load's transaction).
 */
export class InstanceMemory {
  private connection: DuckDBConnection | undefined;
  /** The instance's memory limit before the first change (DuckDB's default), as DuckDB writes it. */
  private limit = '';

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly gate: StatementGate,
  ) {}

  /** Drops the cached blocks and returns freed memory to the system (what cannot be evicted stays). */
  async release(): Promise<void> {
    await this.gate.exclusive(async () => {
      const connection = await this.connect();
      try {
        await this.evict(connection);
      } finally {
        await this.restore(connection);
      }
    });
  }

  /**
   * Runs a statement that scans much of a table (`run`, on the load's own connection) alone, with
   * the limit lowered to what the instance holds and cannot evict plus a headroom, so that DuckDB
   * evicts the blocks it reads as it goes instead of keeping them all; drops them afterwards. The
   * statement must need little memory of its own (no JSON reader: its buffers take 64 MiB).
   */
  async bounded<T>(run: () => Promise<T>): Promise<T> {
    return this.gate.exclusive(async () => {
      const connection = await this.connect();
      try {
        await this.evict(connection);
        const reader = await connection.runAndReadAll('SELECT CAST(sum(memory_usage_bytes) AS BIGINT) AS used FROM duckdb_memory()');
        const used = Number(reader.getRows()[0]?.[0] ?? 0);
        await connection.run(`SET memory_limit = '${Math.ceil((used + SCAN_HEADROOM_BYTES) / 2 ** 20)}MiB'`);
        return await run();
      } finally {
        await this.evict(connection);
        await this.restore(connection);
      }
    });
  }

  /** Closes the connection (before the instance closes). */
  close(): void {
    this.connection?.closeSync();
    this.connection = undefined;
  }

  private async connect(): Promise<DuckDBConnection> {
    if (this.connection === undefined) {
      const connection = await this.instance.connect();
      const reader = await connection.runAndReadAll(`SELECT current_setting('memory_limit')`);
      this.limit = String(reader.getRows()[0]?.[0]);
      this.connection = connection;
    }
    return this.connection;
  }

  private async evict(connection: DuckDBConnection): Promise<void> {
    try {
      await connection.run(`SET memory_limit = ${quoteLiteral(CACHE_FLOOR)}`);
    } catch {
      // More than the floor is in use and cannot be evicted; what could be was.
    }
  }

  private async restore(connection: DuckDBConnection): Promise<void> {
    // Not RESET: DuckDB 1.5.6 then reports the default but keeps enforcing the lower limit.
    await connection.run(`SET memory_limit = ${quoteLiteral(this.limit)}`);
  }
}
