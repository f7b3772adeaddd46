/** A half-open interval of time `[start, end)`, in epoch milliseconds. */
export interface TimeWindow {
  startMs: number;
  endMs: number;
}

export const MS_PER_DAY = 86_400_000;

/**
 * The instant a run reads up to: our clock's `nowMs`, or Iterable's when Iterable's clock is
 * behind ours (`clockOffsetMs` = Iterable's clock minus ours, null when unknown), so that no
 * window and no bookmark ever ends after Iterable's own now.
 */
export function readUntilMs(nowMs: number, clockOffsetMs: number | null): number {
  return clockOffsetMs !== null && clockOffsetMs < 0 ? nowMs + clockOffsetMs : nowMs;
}

/**
 * Where an incremental export stream starts reading: the bookmark minus the lookback (exports
 * are eventually consistent), else the configured start date. Never after `endMs`.
 */
export function exportStartMs(options: {
  bookmarkMs: number | null;
  startDateMs: number | null;
  lookbackMinutes: number;
  endMs: number;
}): number | null {
  const { bookmarkMs, startDateMs, lookbackMinutes, endMs } = options;
  let start: number | null;
  if (bookmarkMs !== null) {
    start = bookmarkMs - lookbackMinutes * 60_000;
    // The lookback never reaches before the configured start date.
    if (startDateMs !== null && start < startDateMs && bookmarkMs >= startDateMs) start = startDateMs;
  } else {
    start = startDateMs;
  }
  if (start === null) return null;
  return Math.min(start, endMs);
}

const SECOND_MS = 1000;

/** What an export stream reads in one run: `[startMs, endMs)` in `windows` windows of at most `windowMs`. */
export interface ExportWindowPlan {
  startMs: number;
  endMs: number;
  windowMs: number;
  /** Windows of the whole range (each one export call when none fails); 0 when there is nothing to read. */
  windows: number;
}

/**
 * The windows an export stream plans from its bookmark (minus the lookback) or the start date up
 * to the run's start, on whole seconds (Iterable's date parameters have whole seconds). Null when
 * there is neither a bookmark nor a start date. The read (read-strategies.ts), the export-cost
 * estimate and the window-count limit all plan with this one function.
 */
export function planExportWindows(options: {
  bookmarkMs: number | null;
  startDateMs: number | null;
  lookbackMinutes: number;
  runStartMs: number;
  windowDays: number;
}): ExportWindowPlan | null {
  const endMs = Math.floor(options.runStartMs / SECOND_MS) * SECOND_MS;
  const start = exportStartMs({ bookmarkMs: options.bookmarkMs, startDateMs: options.startDateMs, lookbackMinutes: options.lookbackMinutes, endMs });
  if (start === null) return null;
  const startMs = Math.floor(start / SECOND_MS) * SECOND_MS;
  const windowMs = Math.max(SECOND_MS, Math.round((options.windowDays * MS_PER_DAY) / SECOND_MS) * SECOND_MS);
  return { startMs, endMs, windowMs, windows: startMs < endMs ? Math.ceil((endMs - startMs) / windowMs) : 0 };
}

/** Tuning of adaptive windows. */
export interface AdaptivePolicy {
  /** The configured window, in ms (`api_window_in_days`); windows never grow past it. */
  maxWindowMs: number;
  /** The smallest window tried after failures, in ms (`ReadContext.minWindowMs`, default 15 minutes). */
  minWindowMs: number;
  /** Failed reads in a row (across halvings) before the stream gives up (`ReadContext.maxWindowFailures`, default 6). */
  maxConsecutiveFailures: number;
}

/** Where an adaptive export walk stands. */
export interface AdaptiveCursor {
  /** Start of the next window to read. */
  startMs: number;
  /** Length of the next window. */
  windowMs: number;
  /** Failures since the last window that succeeded. */
  consecutiveFailures: number;
}

/** The next window to read from a cursor, clipped to `endMs`; null when the walk is done. */
export function nextWindow(cursor: AdaptiveCursor, endMs: number): TimeWindow | null {
  if (cursor.startMs >= endMs) return null;
  return { startMs: cursor.startMs, endMs: Math.min(cursor.startMs + cursor.windowMs, endMs) };
}

/**
 * Advances the cursor after a window was read. Success moves the start to the window's end and
 * doubles the length again (up to the maximum); failure halves it (down to the minimum) and
 * counts; returns `giveUp: true` when the failures in a row reach the limit. Every call either
 * moves the start forward or increases the failure count, so a walk always terminates.
 */
export function advanceCursor(
  cursor: AdaptiveCursor,
  window: TimeWindow,
  outcome: 'success' | 'failure',
  policy: AdaptivePolicy,
): { cursor: AdaptiveCursor; giveUp: boolean } {
  if (outcome === 'success') {
    return {
      cursor: {
        startMs: window.endMs,
        windowMs: Math.min(policy.maxWindowMs, cursor.windowMs * 2),
        consecutiveFailures: 0,
      },
      giveUp: false,
    };
  }
  const failures = cursor.consecutiveFailures + 1;
  const attempted = window.endMs - window.startMs;
  return {
    cursor: {
      startMs: cursor.startMs,
      windowMs: Math.max(Math.min(policy.minWindowMs, policy.maxWindowMs), Math.floor(attempted / 2)),
      consecutiveFailures: failures,
    },
    giveUp: failures >= policy.maxConsecutiveFailures,
  };
}

/**
 * How many data.json windows an export stream would read this run: from the bookmark minus the
 * lookback (or the start date) to `endMs`, in windows of `windowDays`. 0 when there is nothing
 * to read or no start at all.
 */
export function plannedExportWindows(options: {
  bookmarkMs: number | null;
  startDateMs: number | null;
  lookbackMinutes: number;
  endMs: number;
  windowDays: number;
}): number {
  return planExportWindows({ ...options, runStartMs: options.endMs })?.windows ?? 0;
}
