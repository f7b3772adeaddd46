import { totalmem } from 'node:os';
import type { StatementGate } from './statement-gate.js';

/** MiB a merge's statements need besides one per column: DuckDB's JSON reader alone takes a 32 MiB buffer. */
const MERGE_BASE_MB = 40;
/** MiB a merge needs per column of its table (the row group it writes, the reader's vectors; measured: see below). */
const MERGE_MB_PER_COLUMN = 1;
/** MiB left for the rest: the other loads' small statements, DuckDB's own work. */
const HEADROOM_MB = 16;

/** The memory limit (MiB) under which merges into tables of `columns` columns run. */
export function memoryLimitMbFor(columns: number): number {
  return HEADROOM_MB + MERGE_BASE_MB + MERGE_MB_PER_COLUMN * columns;
}

/**
 * DuckDB's own default limit (80% of RAM, MiB), for merges into a table with a primary key (made
 * by an earlier version): its index has to fit in memory, whatever the limit.
 */
export const PRIMARY_KEY_LIMIT_MB = Math.floor((totalmem() * 0.8) / 2 ** 20);

/**
 * The memory of a file's DuckDB instance, so that it stays flat whatever the number of rows a
 * sync writes:
 *
 * - a memory limit. DuckDB keeps the blocks it writes cached, and evicts them only near its limit
 *   (80% of RAM by default): about 100 MB more every million rows written otherwise. The limit is
 *   what the widest merge so far needs (`memoryLimitMbFor`; measured with 60,000-row merges:
 *   14 columns need 48 MiB, 25 need 64, 100 need 128, 300 need 256), and is only ever raised.
 *   Lowering it is not safe: DuckDB also allocates outside statements (closing a connection, its
 *   own background work), and an earlier version that lowered it for a moment after each merge
 *   saw those fail with "Out of Memory" (the kill -9 test, one run in three);
 * - one merge or COMMIT at a time (`merging`), so that their working memory never adds up (each
 *   merge reads its chunk with its own 32 MiB buffer; a COMMIT writes the transaction's last rows
 *   and may checkpoint). The instance runs one thread, so merges of different tables side by side
 *   would share it anyway;
 * - statements that scan much of a table run alone (`bounded`, `StatementGate.exclusive`).
 */
export class InstanceMemory {
  private limitMb: number;
  private mergeRunning = false;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly gate: StatementGate,
    /** Sets the instance's memory limit (`SET GLOBAL memory_limit`). */
    private readonly setLimit: (mb: number) => Promise<void>,
    /** The limit the instance was created with (MiB). */
    initialMb: number,
  ) {
    this.limitMb = initialMb;
  }

  /** The instance's memory limit, MiB. */
  get limit(): number {
    return this.limitMb;
  }

  /**
   * Runs a merge into a table of `columns` columns: alone among merges, under a limit it fits in
   * (DuckDB's default for a table with a primary key, `primaryKey`).
   */
  async merging<T>(columns: number, run: () => Promise<T>, primaryKey = false): Promise<T> {
    if (this.mergeRunning) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.mergeRunning = true;
    try {
      const needed = primaryKey ? Math.max(PRIMARY_KEY_LIMIT_MB, memoryLimitMbFor(columns)) : memoryLimitMbFor(columns);
      if (needed > this.limitMb) {
        await this.setLimit(needed);
        this.limitMb = needed;
      }
      return await run();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.mergeRunning = false;
      else next();
    }
  }

  /** Runs a statement that scans much of a table alone (see the class). */
  bounded<T>(run: () => Promise<T>): Promise<T> {
    return this.gate.exclusive(run);
  }
}
