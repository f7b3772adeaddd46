import { ConfigError } from '../errors.js';
import { RATE_LIMITS } from '../iterable/rate-limits.js';
import type { StreamDefinition } from '../streams/stream-table.js';
import { MS_PER_DAY, planExportWindows } from '../streams/windows.js';
import { formatCount } from '../core/format.js';

/**
 * Most export windows one stream may plan over `start_date` → now. Each window is one export
 * call, and Iterable allows 4 a minute for the whole project: 10,000 windows are already about
 * 42 hours of export budget for a single stream, far past any schedule, while every sensible
 * setting stays far below it (30-day windows over ten years: 122; one-day windows since
 * Iterable exists: under 5,000).
 */
const MAX_EXPORT_WINDOWS_PER_STREAM = 10_000;

/**
 * Refuses an `api_window_in_days` so small that reading from `start_date` to `runStart` (what a
 * first sync or `--full-refresh` reads) would plan more than `MAX_EXPORT_WINDOWS_PER_STREAM`
 * windows per export stream. The message gives the export calls it means and the smallest
 * sensible value. Nothing to check without a start date or without export streams.
 */
export function assertWindowPlanWithinLimit(options: {
  streams: readonly StreamDefinition[];
  startDate: Date | null;
  windowDays: number;
  runStart: Date;
}): void {
  const { streams, startDate, windowDays, runStart } = options;
  const exportStreams = streams.filter((s) => s.read.kind === 'export-windows').length;
  if (startDate === null || exportStreams === 0) return;
  const rangeDays = (runStart.getTime() - startDate.getTime()) / MS_PER_DAY;
  const plan = planExportWindows({ bookmarkMs: null, startDateMs: startDate.getTime(), lookbackMinutes: 0, runStartMs: runStart.getTime(), windowDays });
  const windowsPerStream = plan?.windows ?? 0;
  if (windowsPerStream <= MAX_EXPORT_WINDOWS_PER_STREAM) return;

  const calls = windowsPerStream * exportStreams;
  const { requests, periodMs } = RATE_LIMITS.export;
  const hours = (calls / requests) * (periodMs / 3_600_000);
  const duration =
    hours < 48 ? `${Math.round(hours)} hours` : hours < 24 * 730 ? `${formatCount(Math.round(hours / 24))} days` : `${formatCount(Math.round(hours / 24 / 365))} years`;
  const callsPerMinute = requests / (periodMs / 60_000);
  throw new ConfigError(
    `api_window_in_days ${windowDays} splits start_date ${startDate.toISOString()} → now (${rangeDays.toFixed(1)} days) into ` +
      `${formatCount(windowsPerStream)} export windows per stream: ${formatCount(calls)} export calls for the ${exportStreams} export ` +
      `stream(s) of this run, about ${duration} at Iterable's limit of ${callsPerMinute} export calls a minute. ` +
      `Use api_window_in_days ≥ ${minimumWindowDays(rangeDays)} (at most ${formatCount(MAX_EXPORT_WINDOWS_PER_STREAM)} windows per stream), or a later start_date`,
  );
}

/** The smallest window (rounded up to two significant digits) that keeps within the limit. */
function minimumWindowDays(rangeDays: number): number {
  const exact = rangeDays / MAX_EXPORT_WINDOWS_PER_STREAM;
  const step = 10 ** (Math.floor(Math.log10(exact)) - 1);
  return Number((Math.ceil(exact / step) * step).toPrecision(2));
}

