import { ConfigError } from '../errors.js';
import { plannedExportWindows } from '../streams/windows.js';

/** `export_mode` as configured (contract §3): `auto` decides per stream and run. */
export type ConfiguredExportMode = 'auto' | 'jobs' | 'stream';

/** How one export stream reads in one run. */
export type ExportMode = 'jobs' | 'stream';

export const EXPORT_MODES: readonly ConfiguredExportMode[] = ['auto', 'jobs', 'stream'];
export const DEFAULT_EXPORT_MODE: ConfiguredExportMode = 'auto';

/**
 * `auto` reads through export jobs from this many data.json windows on. Three windows are under a
 * minute of the 4 data.json calls a minute one stream alone may use, shorter than a job takes
 * to be queued, run and listed; from four on, each further window waits another 15 s for a call
 * (and every export stream of the run shares those 4 calls), while one job reads the whole range.
 * An everyday incremental run (bookmark minus the lookback → now) plans one window: data.json.
 */
export const AUTO_JOBS_MIN_WINDOWS = 4;

/** Which way a stream reads this run, and why in words for `check` and the logs. */
export interface ExportModeChoice {
  mode: ExportMode;
  reason: string;
}

/**
 * Chooses how an export stream reads: `jobs` / `stream` as configured; `auto` → jobs when the run
 * would read at least {@link AUTO_JOBS_MIN_WINDOWS} data.json windows for the stream.
 */
export function chooseExportMode(configured: ConfiguredExportMode, plannedWindows: number): ExportModeChoice {
  const windows = `${plannedWindows} data.json window${plannedWindows === 1 ? '' : 's'}`;
  if (configured === 'jobs') return { mode: 'jobs', reason: 'export_mode is jobs' };
  if (configured === 'stream') return { mode: 'stream', reason: 'export_mode is stream' };
  if (plannedWindows >= AUTO_JOBS_MIN_WINDOWS) {
    return { mode: 'jobs', reason: `export_mode auto: ${windows} to read (jobs from ${AUTO_JOBS_MIN_WINDOWS} on)` };
  }
  return { mode: 'stream', reason: `export_mode auto: only ${windows} to read (jobs from ${AUTO_JOBS_MIN_WINDOWS} on)` };
}

/** Parses `export_mode` (file, ITERABLE_EXPORT_MODE or --export-mode); undefined/empty = the default. */
export function parseExportMode(value: unknown): ConfiguredExportMode {
  if (value === undefined || value === null || value === '') return DEFAULT_EXPORT_MODE;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  if (text !== undefined && (EXPORT_MODES as readonly string[]).includes(text)) return text as ConfiguredExportMode;
  throw new ConfigError(
    `export_mode must be "auto", "jobs" or "stream" (got ${JSON.stringify(value)}): jobs reads exports through Iterable's export jobs, ` +
      'stream through data.json, auto picks jobs for long backfills; for example "export_mode": "auto"',
  );
}

/**
 * `check`'s lines on how a sync would read exports: a first sync (from start_date, or with
 * --full-refresh) and an everyday incremental one (one bookmark's lookback to now).
 */
export function describeExportModes(options: {
  configured: ConfiguredExportMode;
  startDate: Date | null;
  windowDays: number;
  lookbackMinutes: number;
  now: Date;
}): string[] {
  const { configured, startDate, windowDays, lookbackMinutes, now } = options;
  const endMs = now.getTime();
  const incremental = chooseExportMode(
    configured,
    plannedExportWindows({ bookmarkMs: endMs, startDateMs: null, lookbackMinutes, endMs, windowDays }),
  );
  const lines: string[] = [];
  if (startDate === null) {
    lines.push(`  first sync: no start_date set; a stream without a bookmark needs one (--start-date)`);
  } else {
    const planned = plannedExportWindows({ bookmarkMs: null, startDateMs: startDate.getTime(), lookbackMinutes, endMs, windowDays });
    const first = chooseExportMode(configured, planned);
    lines.push(`  first sync from ${startDate.toISOString()}: ${modeWords(first.mode)} (${first.reason})`);
  }
  lines.push(`  incremental sync (bookmark - ${lookbackMinutes} min lookback → now): ${modeWords(incremental.mode)} (${incremental.reason})`);
  return lines;
}

function modeWords(mode: ExportMode): string {
  return mode === 'jobs' ? 'export jobs' : 'data.json';
}
