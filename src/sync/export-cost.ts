import { RATE_LIMITS, type RateLimit } from '../iterable/rate-limits.js';
import type { StreamBookmark } from '../state/singer-state.js';
import type { StreamDefinition } from '../streams/stream-table.js';
import { planExportWindows } from '../streams/windows.js';
import { parseInstant } from '../core/instants.js';
import { formatCount, formatDuration } from '../core/format.js';

/** What the estimate needs to know of one export stream. */
export interface ExportCostStream {
  name: string;
  /** Its bookmark, in epoch ms (null: none, the read starts at the start date). */
  bookmarkMs: number | null;
  /**
   * Whether it reads its windows through `GET /api/export/data.json`, one call per window under
   * the shared export limit. False for a stream read another way (export jobs, issue 12), which
   * the estimate leaves out.
   */
  usesDataJson: boolean;
}

/** The data.json calls a run needs, and the least wall time Iterable's export limit allows them. */
export interface ExportCost {
  /** data.json calls per stream that uses data.json, in the order given. */
  perStream: Array<{ name: string; calls: number }>;
  /** All of them. */
  calls: number;
  /**
   * The least wall time the calls take: the limit lets `requests` calls start per period, so
   * the last one starts no earlier than `(ceil(calls / requests) - 1)` periods after the first
   * (the reads themselves and any retry come on top).
   */
  leastWallMs: number;
  /** The limit the estimate assumes. */
  limit: RateLimit;
}

/**
 * The export budget a run needs, planned exactly as the read plans its windows
 * (`planExportWindows`): one data.json call per window from each stream's bookmark (minus the
 * lookback), or the start date, up to the run's start. A pure function of its input.
 */
export function estimateExportCost(input: {
  streams: readonly ExportCostStream[];
  startDateMs: number | null;
  lookbackMinutes: number;
  windowDays: number;
  runStartMs: number;
  /** Default Iterable's export limit (`RATE_LIMITS.export`). */
  limit?: RateLimit;
}): ExportCost {
  const limit = input.limit ?? RATE_LIMITS.export;
  const perStream = input.streams
    .filter((s) => s.usesDataJson)
    .map((s) => {
      const plan = planExportWindows({
        bookmarkMs: s.bookmarkMs,
        startDateMs: input.startDateMs,
        lookbackMinutes: input.lookbackMinutes,
        runStartMs: input.runStartMs,
        windowDays: input.windowDays,
      });
      return { name: s.name, calls: plan?.windows ?? 0 };
    });
  const calls = perStream.reduce((sum, s) => sum + s.calls, 0);
  const leastWallMs = Math.max(0, Math.ceil(calls / limit.requests) - 1) * limit.periodMs;
  return { perStream, calls, leastWallMs, limit };
}

/** For people: the calls, the streams, and the least wall time at the export limit (no prefix, no full stop). */
export function describeExportCost(cost: ExportCost): string {
  const streams = plural(cost.perStream.length, 'export stream');
  if (cost.calls === 0) return `no export call (GET /api/export/data.json) to make for ${streams}`;
  const perMinute = cost.limit.requests / (cost.limit.periodMs / 60_000);
  const limit = `Iterable's limit of ${formatCount(perMinute)} export calls a minute, which every export stream shares`;
  const time = cost.leastWallMs === 0 ? `within the first minute of ${limit}` : `at least ${formatDuration(cost.leastWallMs, 'up')} at ${limit}`;
  return `${plural(cost.calls, 'export call')} (GET /api/export/data.json) for ${streams}: ${time}`;
}

function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}


/**
 * The estimate's input for the streams of a run: the export streams (those read in windows) with
 * their starting bookmarks by replication key (none given: a first sync, from the start date).
 */
export function exportCostStreams(
  streams: readonly StreamDefinition[],
  bookmarks: ReadonlyMap<string, StreamBookmark | undefined> = new Map(),
  /** Streams that read through export jobs this run, not data.json. */
  readThroughJobs: ReadonlySet<string> = new Set(),
): ExportCostStream[] {
  return streams
    .filter((s) => s.read.kind === 'export-windows')
    .map((s) => {
      const text = s.replicationKey === undefined ? undefined : bookmarks.get(s.name)?.[s.replicationKey];
      return { name: s.name, bookmarkMs: text === undefined ? null : (parseInstant(text)?.getTime() ?? null), usesDataJson: !readThroughJobs.has(s.name) };
    });
}
