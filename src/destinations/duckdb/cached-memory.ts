import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { quoteLiteral } from '../sql/identifiers.js';
import type { StatementGate } from './statement-gate.js';

/**
 * Drops the blocks of a database file that DuckDB keeps cached after writing or reading them (it
 * keeps them until memory runs short, so the merges of a long transaction would pile up there),
 * and returns freed memory to the system. Lowering the memory limit is DuckDB's only way to
 * evict, and it applies to the whole instance: `release` lowers it to `floor` while no statement
 * of the instance runs (`StatementGate.exclusive`), on a connection of its own (a failed SET
 * would abort a load's transaction), and restores the limit it had at once. What cannot be
 * evicted stays, and the SET then fails: no matter.
 */
export class CachedMemory {
  private connection: DuckDBConnection | undefined;
  /** The instance's memory limit before the first release (DuckDB's default), as DuckDB writes it. */
  private limit = '';

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly gate: StatementGate,
    /** Memory DuckDB may keep, e.g. `16MB`. */
    private readonly floor: string,
  ) {}

  async release(): Promise<void> {
    await this.gate.exclusive(async () => {
      if (this.connection === undefined) {
        const connection = await this.instance.connect();
        const reader = await connection.runAndReadAll(`SELECT current_setting('memory_limit') AS m`);
        this.limit = String(reader.getRows()[0]?.[0]);
        this.connection = connection;
      }
      try {
        await this.connection.run(`SET memory_limit = ${quoteLiteral(this.floor)}`);
      } catch {
        // More than the floor is in use and cannot be evicted; what could be was.
      } finally {
        // Not RESET: DuckDB 1.5.6 then reports the default but keeps enforcing the floor.
        await this.connection.run(`SET memory_limit = ${quoteLiteral(this.limit)}`);
      }
    });
  }

  /** Closes the connection (before the instance closes). */
  close(): void {
    this.connection?.closeSync();
    this.connection = undefined;
  }
}
