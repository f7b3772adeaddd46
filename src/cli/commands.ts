import type { Config } from '../config/config.js';
import type { RejectedRecord } from '../core/types.js';
import type { Destination } from '../destinations/destination.js';
import { AuthError, ConfigError, FatalApiError } from '../errors.js';
import type { Logger } from '../core/types.js';
import { readStateFile } from '../state/state-file.js';
import type { SingerState } from '../state/singer-state.js';
import { buildCatalog, selectedInCatalog, type Catalog } from '../streams/catalog.js';
import { resolveStreamSchema } from '../streams/schema-resolution.js';
import { STREAMS, STREAM_NAMES, streamsForProjectType, type StreamDefinition } from '../streams/stream-table.js';
import { projectTypeReport } from './project-type-report.js';
import { selectStreams } from './run-context.js';
import { runSync, type StreamResult } from '../sync/run-sync.js';
import { seedBookmarks } from '../sync/seed-bookmarks.js';
import { chooseExportMode, describeExportModes } from '../sync/export-mode.js';
import { assertWindowPlanWithinLimit } from '../sync/window-plan-limit.js';
import { describeExportCost, estimateExportCost, exportCostStreams } from '../sync/export-cost.js';
import { checkApiKey } from '../iterable/key-check.js';
import { plannedExportWindows, readUntilMs } from '../streams/windows.js';
import { formatIterableTime } from '../iterable/time-formats.js';
import { EXIT } from './exit-codes.js';
import type { StderrLogger } from '../log/stderr-logger.js';
import { removeOwnTempDirs } from '../destinations/sql/temp-dirs.js';
import { reportInterruption, SIGNAL_EXIT_CODES, watchForInterrupt } from './interruption.js';
import { createProgress } from './progress.js';
import { createClient, createDestination, createExportJobsRun, isSingerDestination } from './run-context.js';
import { formatSummary } from './summary.js';
import { checkSummaryPath, RunHistory, summaryJson, writeSummaryJson, type FinishedRun } from './run-history.js';
import { readFile } from 'node:fs/promises';

/** Request counts by endpoint, with metadata table and key names folded into placeholders. */
function requestsByEndpoint(byPath: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [path, n] of byPath) {
    const endpoint = path
      .replace(/^\/api\/metadata\/[^/]+\/[^/]+$/, '/api/metadata/{table}/{key}')
      .replace(/^\/api\/metadata\/[^/]+$/, '/api/metadata/{table}');
    out.set(endpoint, (out.get(endpoint) ?? 0) + n);
  }
  return out;
}

/**
 * `check`: first, what a first sync of the selected streams costs in export calls (no call made);
 * then one cheap call to see whether the key works, then probes of what it may read.
 */
export async function commandCheck(
  config: Config,
  logger: Logger,
  out: (text: string) => void,
  streams: readonly StreamDefinition[] = selectStreams(config.streams),
): Promise<number> {
  out(`${firstSyncCost(config, streams)}\n`);
  const client = createClient(config, logger);
  try {
    try {
      await checkApiKey(client);
    } catch (error) {
      if (error instanceof AuthError) {
        out(`Iterable refused the API key at ${config.baseUrl} (HTTP ${error.status}).\n`);
        out(`Check the key, and that region (${config.region}) matches the project's data centre.\n`);
        return EXIT.auth;
      }
      throw error;
    }
    out(`API key works: ${config.baseUrl} (region ${config.region})\n`);
    out(await projectTypeReport(client, config.projectType, logger));
    const now = new Date();
    const canExport = await probe(() =>
      drain(
        client.streamLines(
          '/api/export/data.json',
          { dataTypeName: 'emailSend', startDateTime: formatIterableTime(new Date(now.getTime() - 60_000)), endDateTime: formatIterableTime(now) },
          'export',
        ),
      ),
    );
    const lists = await client.getJson<{ lists?: Array<{ id: number }> }>('/api/lists', {}, 'lists');
    const firstList = lists.lists?.[0]?.id ?? 0;
    const canListUsers = await probe(() => drain(client.streamLines('/api/lists/getUsers', { listId: String(firstList) }, 'listUsers'), 1));
    const lines: string[] = [];
    for (const stream of STREAMS) {
      let ok = true;
      let why = '';
      if (stream.read.kind === 'export-windows' && canExport !== true) [ok, why] = [false, canExport];
      if (stream.read.kind === 'list-members' && canListUsers !== true) [ok, why] = [false, canListUsers];
      lines.push(`  ${stream.name.padEnd(26)} ${ok ? 'readable' : `not readable: ${why}`}`);
    }
    out(`Streams:\n${lines.join('\n')}\n`);
    out(`Export streams (events, users) would read through:\n${describeExportModes({ configured: config.exportMode, startDate: config.startDate, windowDays: config.windowDays, lookbackMinutes: config.lookbackMinutes, now }).join('\n')}\n`);
    if (canExport !== true || canListUsers !== true) {
      out('A read-only key cannot call /api/export/data.json or /api/lists/getUsers; create a server-side key to read every stream.\n');
    }
    return EXIT.ok;
  } finally {
    await client.close();
  }
}

/**
 * The data.json budget of a first sync (from start_date) of the streams, as one line; streams that
 * export_mode sends through export jobs are named apart (they do not use that budget).
 */
function firstSyncCost(config: Config, streams: readonly StreamDefinition[]): string {
  const names = exportCostStreams(streams).map((s) => s.name);
  if (names.length === 0) return 'A first sync of the selected streams makes no export call.';
  if (config.startDate === null) return 'Set start_date (or --start-date) to see how many export calls a first sync of the selected streams needs.';
  const runStartMs = Date.now();
  const windows = plannedExportWindows({
    bookmarkMs: null,
    startDateMs: config.startDate.getTime(),
    lookbackMinutes: config.lookbackMinutes,
    endMs: runStartMs,
    windowDays: config.windowDays,
  });
  const throughJobs = chooseExportMode(config.exportMode, windows).mode === 'jobs' ? new Set(names) : new Set<string>();
  const cost = estimateExportCost({
    streams: exportCostStreams(streams, new Map(), throughJobs),
    startDateMs: config.startDate.getTime(),
    lookbackMinutes: config.lookbackMinutes,
    windowDays: config.windowDays,
    runStartMs,
  });
  if (throughJobs.size > 0) {
    return `A first sync from ${config.startDate.toISOString()} reads its ${throughJobs.size} export stream${throughJobs.size === 1 ? '' : 's'} through export jobs (export_mode ${config.exportMode}): no data.json call, ${windows} window${windows === 1 ? '' : 's'} each in stream mode.`;
  }
  return `Export budget of a first sync from ${config.startDate.toISOString()} in ${config.windowDays}-day windows: ${describeExportCost(cost)}.`;
}

async function drain(lines: AsyncGenerator<string>, max = Number.POSITIVE_INFINITY): Promise<void> {
  let n = 0;
  for await (const _ of lines) if (++n >= max) break;
}

/** Runs a probe: true when allowed, else the reason (auth refusals only; other errors propagate). */
async function probe(call: () => Promise<void>): Promise<true | string> {
  try {
    await call();
    return true;
  } catch (error) {
    if (error instanceof AuthError) return `refused (HTTP ${error.status})`;
    // getUsers with an unknown list answers 400: the key may call it.
    if (error instanceof FatalApiError && error.request.status === 400) return true;
    throw error;
  }
}

/** Resolved schemas of the streams (users with the project's custom fields when a key is set). */
async function resolvedCatalog(config: Config, streams: readonly StreamDefinition[], logger: Logger): Promise<Catalog> {
  if (!config.apiKey) return buildCatalog(streams.map((stream) => ({ stream, schema: stream.schema })));
  const client = createClient(config, logger);
  try {
    // A refused key is exit 3 (AuthError), not a catalog without the custom fields.
    await checkApiKey(client);
    const entries = [];
    for (const stream of streams) entries.push({ stream, schema: (await resolveStreamSchema(stream, client, logger)).schema });
    return buildCatalog(entries);
  } finally {
    await client.close();
  }
}

/** `discover`: the Singer catalog on stdout. */
export async function commandDiscover(config: Config, logger: Logger, out: (text: string) => void): Promise<number> {
  const catalog = await resolvedCatalog(config, streamsForProjectType(STREAMS, config.projectType), logger);
  out(`${JSON.stringify(catalog, null, 2)}\n`);
  return EXIT.ok;
}

/**
 * Streams for tap mode: `--streams`, else those a `--catalog` selects, else the config's
 * `streams` key, else the 16 seed streams.
 */
export async function streamsForTap(
  streamsFlag: StreamDefinition[] | undefined,
  catalogPath: string | undefined,
  logger: Logger,
  configured?: Config['streams'],
): Promise<StreamDefinition[]> {
  if (streamsFlag) return streamsFlag;
  if (!catalogPath) return selectStreams(configured);
  let catalog: unknown;
  try {
    catalog = JSON.parse(await readFile(catalogPath, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read catalog ${catalogPath}: ${(error as Error).message}`, { cause: error });
  }
  const names = selectedInCatalog(catalog, STREAM_NAMES, `catalog ${catalogPath}`);
  if (names.length === 0) logger.warn(`catalog ${catalogPath} selects no stream ("selected": true in its metadata); nothing to do`);
  return STREAMS.filter((s) => names.includes(s.name));
}

/** `sync` / `tap`: replicate streams into a destination; prints the summary (not in Singer mode). */
export async function commandSync(
  config: Config,
  streams: readonly StreamDefinition[],
  options: {
    fullRefresh: boolean;
    statePath?: string;
    logger: StderrLogger;
    out: (text: string) => void;
    /** stderr is a terminal that takes escape codes: draw the live progress block; else plain log lines. */
    isTTY: boolean;
    /** `--summary-json FILE`: the final summary as JSON. */
    summaryJsonPath?: string;
  },
): Promise<number> {
  // SIGINT / SIGTERM: stop reading, roll back, report, close; a second signal exits at once.
  const interrupt = watchForInterrupt({
    onSecondSignal: (signal) => {
      options.logger.warn(`${signal} again: exiting at once; the database drops what was not committed, the next sync resumes from the last commit`, {
        event: 'exiting',
        signal,
      });
      removeOwnTempDirs();
      process.exit(SIGNAL_EXIT_CODES[signal]);
    },
  });
  try {
    // The keys of users and list_users follow project_type (contract §4a).
    const resolved = streamsForProjectType(streams, config.projectType);
    return await syncUntilDoneOrInterrupted(config, resolved, options, interrupt.signal, () => interrupt.received);
  } finally {
    interrupt.dispose();
  }
}

async function syncUntilDoneOrInterrupted(
  config: Config,
  streams: readonly StreamDefinition[],
  options: Parameters<typeof commandSync>[2],
  signal: AbortSignal,
  received: () => 'SIGINT' | 'SIGTERM' | undefined,
): Promise<number> {
  const { logger } = options;
  const singer = isSingerDestination(config.destination);
  const runStart = new Date();
  assertWindowPlanWithinLimit({ streams, startDate: config.startDate, windowDays: config.windowDays, runStart });
  const summaryPath = options.summaryJsonPath === undefined ? undefined : checkSummaryPath(options.summaryJsonPath);
  let state: SingerState | undefined;
  if (options.statePath) {
    if (!singer && options.fullRefresh) {
      throw new ConfigError('--state seeds bookmarks and --full-refresh ignores them: use one or the other');
    }
    state = await readStateFile(options.statePath);
  }
  const rejected: RejectedRecord[] = [];
  // On a TTY, log lines go through the progress display so they print above its live block.
  // JSON logs are for collectors: one object per line, never a redrawn block among them.
  const live = options.isTTY && !singer && logger.format === 'text';
  const progress = createProgress({ isTTY: live, info: (message, fields) => syncLogger.info(message, fields) });
  const syncLogger = live ? logger.redirect((line) => progress.log(line)) : logger;
  const onStop = () =>
    syncLogger.warn(`${received()} received: stopping; rolling back uncommitted windows (send it again to exit at once)`, {
      event: 'stopping',
      signal: received(),
    });
  if (signal.aborted) onStop();
  else signal.addEventListener('abort', onStop, { once: true });
  const client = createClient(config, syncLogger, signal);
  let destination: Destination | undefined;
  let history: RunHistory | undefined;
  let results: StreamResult[] | undefined;
  let runError: unknown;
  let finished: FinishedRun | undefined;
  try {
    // The key first: a refused key ends the run here (exit 3), before any stream starts and
    // before the destination is created.
    const keyCheck = await checkApiKey(client);
    warnOnClockSkew(keyCheck.clockOffsetMs, syncLogger);
    destination = await createDestination(config.destination, logger, {
      state,
      onRejected: (record) => {
        logger.warn(`${record.stream}: rejected line from ${record.source}: ${record.reason}`, { raw: record.raw.slice(0, 2000) });
        rejected.push(record);
      },
    });
    if (state && !singer) {
      // DuckDB and PostgreSQL keep their bookmarks; a state file seeds those they lack.
      await seedBookmarks({ destination, state, streams, origin: `state file ${options.statePath}`, logger });
    }
    history = await RunHistory.start(destination, runStart, streams.map((s) => s.name), logger);
    results = await runSync({
      streams,
      client,
      destination,
      startDate: config.startDate,
      windowDays: config.windowDays,
      lookbackMinutes: config.lookbackMinutes,
      maxWindowRetryMinutes: config.maxWindowRetryMinutes,
      metricsAttributionDays: config.metricsAttributionDays,
      exportMode: config.exportMode,
      exportJobs: createExportJobsRun(client, signal),
      fullRefresh: options.fullRefresh,
      runStart: new Date(readUntilMs(Date.now(), keyCheck.clockOffsetMs)),
      logger: syncLogger,
      progress,
      signal,
    });
  } catch (error) {
    runError = error;
    throw error;
  } finally {
    progress.stop();
    await client.close();
    if (history) {
      const stopSignal = received();
      finished = history.finished(results, runError, stopSignal ? 'interrupted' : undefined);
      if (stopSignal) finished.exitCode = SIGNAL_EXIT_CODES[stopSignal];
      if (summaryPath !== undefined && !(await writeSummaryJson(summaryPath, summaryJson(finished, destination!.description), logger))) {
        // An orchestrator reading the file would find no summary, or an old one: the run did not fully succeed.
        if (finished.exitCode === EXIT.ok) finished.exitCode = EXIT.streamFailed;
      }
      await history.end(finished);
    }
    await destination?.close();
    if (signal.aborted) removeOwnTempDirs();
  }
  const durationMs = Date.now() - runStart.getTime();
  const requests = [...requestsByEndpoint(client.stats.requestsByPath)].map(([path, n]) => `${path}=${n}`).join(' ');
  logger.info(`requests: ${requests || 'none'}; retries: ${client.stats.retries}`, { event: 'requests' });
  const stoppedBy = received();
  if (stoppedBy) reportInterruption(stoppedBy, results, logger);
  if (singer) {
    for (const r of results) {
      const rejected = r.rejected > 0 ? `, ${r.rejected} rejected line(s) (raw text logged above)` : '';
      logger.info(`${r.stream}: ${r.status}, ${r.rows} records${rejected}`, { event: 'stream_summary', stream: r.stream });
    }
  } else {
    options.out(formatSummary(results!, durationMs, destination!.description));
  }
  return finished!.exitCode;
}

/** Iterable's clock and ours may differ by this much before a run warns. */
const MAX_CLOCK_SKEW_MS = 60_000;

/** Warns once when our clock and Iterable's (its `Date` header) differ by more than a minute. */
function warnOnClockSkew(clockOffsetMs: number | null, logger: Logger): void {
  if (clockOffsetMs === null || Math.abs(clockOffsetMs) <= MAX_CLOCK_SKEW_MS) return;
  const seconds = Math.round(Math.abs(clockOffsetMs) / 1000);
  const direction = clockOffsetMs < 0 ? 'ahead of' : 'behind';
  logger.warn(
    `this machine's clock is ${seconds} s ${direction} Iterable's (its Date header); export windows and bookmarks ` +
      "follow the earlier of the two, so none passes Iterable's now. Sync the clock (NTP) to silence this warning",
  );
}

/** `reset`: forget bookmarks in the destination. */
export async function commandReset(
  config: Config,
  streamNames: readonly string[] | 'all',
  logger: Logger,
  out: (text: string) => void,
): Promise<number> {
  if (isSingerDestination(config.destination)) {
    throw new ConfigError('reset needs a DuckDB or PostgreSQL destination; for Singer output, delete or edit your state file');
  }
  const destination = await createDestination(config.destination, logger);
  try {
    const reset = await destination.resetState(streamNames === 'all' ? undefined : streamNames);
    out(
      reset.length > 0
        ? `Forgot the bookmarks of ${reset.join(', ')} in ${destination.description}; the next sync reads them again from start_date.\n`
        : `No bookmarks to forget in ${destination.description}.\n`,
    );
    return EXIT.ok;
  } finally {
    await destination.close();
  }
}

