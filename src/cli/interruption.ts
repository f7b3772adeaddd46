import { setMaxListeners } from 'node:events';
import { InterruptedError } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { StreamBookmark } from '../state/singer-state.js';
import type { StreamResult } from '../sync/run-sync.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Exit code of a run stopped by a signal: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** A run's watch for SIGINT / SIGTERM. */
export interface Interruption {
  /** Aborted (with an InterruptedError) by the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: StopSignal | undefined;
  /** Stops watching; the default handling of the signals applies again. */
  dispose(): void;
}

/**
 * Watches for SIGINT and SIGTERM during a run. The first aborts `signal` so the run can stop
 * cleanly (roll back, report, close); a second one calls `onSecondSignal`, which must end the
 * process at once.
 */
export function watchForInterrupt(options: {
  onSecondSignal: (signal: StopSignal) => void;
}): Interruption {
  const controller = new AbortController();
  // Every request, retry delay and rate-limit wait in flight listens to it (one or more per
  // stream, 16 streams at once); each removes its listener when done.
  setMaxListeners(0, controller.signal);
  let received: StopSignal | undefined;
  const handle = (signal: StopSignal) => {
    if (received !== undefined) {
      options.onSecondSignal(signal);
      return;
    }
    received = signal;
    controller.abort(new InterruptedError(signal));
  };
  const onInt = () => handle('SIGINT');
  const onTerm = () => handle('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

function describeBookmark(bookmark: StreamBookmark | undefined): string | undefined {
  if (!bookmark) return undefined;
  const entries = Object.entries(bookmark);
  return entries.length > 0 ? entries.map(([key, value]) => `${key} ${value}`).join(', ') : undefined;
}

/**
 * Logs what an interrupted run leaves behind: per stream what is committed (its last committed
 * bookmark), and that the next sync resumes from there.
 */
export function reportInterruption(signal: StopSignal, results: readonly StreamResult[], logger: Logger): void {
  logger.warn(
    `Interrupted by ${signal}: stopped reading and rolled back every uncommitted window; everything committed stays. Per stream:`,
    { event: 'interrupted', signal },
  );
  for (const r of results) {
    const bookmark = describeBookmark(r.bookmark);
    let text: string;
    if (r.status === 'complete') text = `complete (${r.rows} rows)${bookmark ? `, bookmark ${bookmark}` : ''}`;
    else if (r.status === 'failed') text = `failed before the signal${bookmark ? `; committed up to ${bookmark}` : ''}`;
    else if (bookmark) text = `committed up to ${bookmark}${r.bookmarkCommits > 0 ? ` (${r.bookmarkCommits} commit(s) this run)` : ' (nothing new this run)'}`;
    else text = 'nothing committed this run; the next sync reads it again';
    logger.warn(`  ${r.stream}: ${text}`, { event: 'stream_state', stream: r.stream, status: r.status, bookmark: r.bookmark });
  }
  logger.warn('The next sync resumes every stream from its last committed bookmark.', { event: 'resume_hint' });
}
