import type { StatementGate } from './statement-gate.js';

/**
 * How a file's DuckDB instance runs the statements that scan much of a table (the probes and
 * DELETEs of `EarlierRows`, the commit's row count): one at a time, while no other statement of
 * the instance runs (`StatementGate.exclusive`), so that their working memory never adds up.
 *
 * It does not touch the instance's memory limit. An earlier version lowered it for a moment after
 * each merge to make DuckDB drop its cached blocks (and for the scans, to keep them from piling
 * up); but DuckDB also allocates outside statements (closing a connection, its own background
 * work), and those failed with "Out of Memory" while the limit was low, aborting whole loads and
 * once the process (`npm test`, the kill -9 test, one run in three). The cache therefore stays
 * DuckDB's business (see README.md, "Throughput and memory").
 */
export class InstanceMemory {
  constructor(private readonly gate: StatementGate) {}

  /** Runs a statement that scans much of a table alone (see the class). */
  bounded<T>(run: () => Promise<T>): Promise<T> {
    return this.gate.exclusive(run);
  }
}
