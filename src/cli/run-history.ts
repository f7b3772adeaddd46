import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Destination, RunEnd, RunOutcome, RunStreamRecord } from '../destinations/destination.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { StreamResult } from '../sync/run-sync.js';
import { describeError, exitCodeForError, exitCodeForResults } from './exit-codes.js';

/** How a run ended, from its streams: all complete, some failed (partial), or all failed. */
function runOutcome(results: readonly StreamResult[]): Exclude<RunOutcome, 'running'> {
  const failed = results.filter((r) => r.status === 'failed').length;
  if (failed === 0) return 'complete';
  return failed === results.length ? 'failed' : 'partial';
}

/** A stream's result as the run history stores it. */
function runStreamRecord(result: StreamResult): RunStreamRecord {
  return {
    stream: result.stream,
    status: result.status,
    rows: result.rows,
    rowsRead: result.rowsRead,
    rescued: result.rescued,
    rejected: result.rejected,
    seconds: Math.round(result.durationMs) / 1000,
    error: result.error ? describeError(result.error) : null,
  };
}

/** The end of a run: outcome, exit code, results (what the history and `--summary-json` hold). */
export interface FinishedRun {
  runId: string;
  startedAt: Date;
  endedAt: Date;
  outcome: Exclude<RunOutcome, 'running'>;
  exitCode: number;
  results: readonly StreamResult[];
  /** The run's own error (outside its streams), one line. */
  error?: string;
}

/**
 * The run history of one sync in its destination (`_iterable_sync_runs`): a `running` row when it
 * starts, finished when it ends. Destinations without history (Singer output) record nothing. A
 * failure to record is a warning: the history never fails a sync that loaded its data.
 */
export class RunHistory {
  readonly runId = randomUUID();

  private constructor(
    private readonly destination: Destination,
    readonly startedAt: Date,
    private readonly logger: Logger,
  ) {}

  /** Records the start of the run (when the destination keeps a history). */
  static async start(destination: Destination, startedAt: Date, streams: readonly string[], logger: Logger): Promise<RunHistory> {
    const history = new RunHistory(destination, startedAt, logger);
    if (destination.recordRunStart) {
      try {
        await destination.recordRunStart({ runId: history.runId, startedAt, streams });
      } catch (error) {
        logger.warn(`could not record the run in ${destination.description}: ${describeError(error)}`);
      }
    }
    return history;
  }

  /**
   * The run's end from its results, or from the error that ended it before its streams did;
   * `outcome` overrides the one the results give (e.g. `interrupted`).
   */
  finished(results: readonly StreamResult[] | undefined, error?: unknown, outcome?: FinishedRun['outcome']): FinishedRun {
    const list = results ?? [];
    return {
      runId: this.runId,
      startedAt: this.startedAt,
      endedAt: new Date(),
      outcome: outcome ?? (results === undefined ? 'failed' : runOutcome(list)),
      exitCode: results === undefined ? exitCodeForError(error) : exitCodeForResults(list),
      results: list,
      ...(results === undefined && error !== undefined ? { error: describeError(error) } : {}),
    };
  }

  /** Records the end of the run. */
  async end(run: FinishedRun): Promise<void> {
    if (!this.destination.recordRunEnd) return;
    const end: RunEnd = {
      runId: run.runId,
      endedAt: run.endedAt,
      outcome: run.outcome,
      exitCode: run.exitCode,
      results: run.results.map(runStreamRecord),
      ...(run.error !== undefined ? { error: run.error } : {}),
    };
    try {
      await this.destination.recordRunEnd(end);
    } catch (error) {
      this.logger.warn(`could not record the end of run ${run.runId} in ${this.destination.description}: ${describeError(error)}`);
    }
  }
}

/** `--summary-json FILE`: refused before the run when its folder does not exist. */
export function checkSummaryPath(path: string): string {
  const full = resolve(path);
  const folder = dirname(full);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new ConfigError(`--summary-json ${path}: folder ${folder} does not exist; create it or choose another file`);
  }
  return full;
}

/** The final summary of a sync as JSON, for orchestrators. */
export function summaryJson(run: FinishedRun, destination: string): Record<string, unknown> {
  const total = (pick: (r: StreamResult) => number) => run.results.reduce((n, r) => n + pick(r), 0);
  return {
    run_id: run.runId,
    started_at: run.startedAt.toISOString(),
    ended_at: run.endedAt.toISOString(),
    outcome: run.outcome,
    exit_code: run.exitCode,
    destination,
    error: run.error ?? null,
    totals: { rows: total((r) => r.rows), rescued: total((r) => r.rescued), rejected: total((r) => r.rejected) },
    streams: run.results.map((r) => ({
      stream: r.stream,
      status: r.status,
      rows: r.rows,
      rows_read: r.rowsRead,
      rescued: r.rescued,
      rejected: r.rejected,
      columns_added: r.columnsAdded,
      seconds: Math.round(r.durationMs) / 1000,
      rate_limit_wait_seconds: Math.round(r.rateLimitWaitMs) / 1000,
      error: r.error ? describeError(r.error) : null,
    })),
  };
}

/**
 * Writes the summary to `path` whole (a temp file renamed), so a reader never sees half of it;
 * false (and an error logged) when it could not.
 */
export async function writeSummaryJson(path: string, summary: Record<string, unknown>, logger: Logger): Promise<boolean> {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(summary, null, 2)}\n`);
    await rename(temp, path);
    return true;
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    logger.error(`could not write the summary to ${path}: ${(error as Error).message}; check that the file is writable`);
    return false;
  }
}
