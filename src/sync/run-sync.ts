import type { Logger } from '../core/types.js';
import type { Destination, TableLoad } from '../destinations/destination.js';
import { AuthError, ConnectorError, InterruptedError, SchemaError } from '../errors.js';
import type { RateLimitWait } from '../iterable/rate-limiter.js';
import { runWithRequestContext, type RequestContext } from '../iterable/request-context.js';
import { runWithLogContext } from '../log/log-context.js';
import type { StreamBookmark } from '../state/singer-state.js';
import { readStream } from '../streams/read-strategies.js';
import type { IterableReader } from '../streams/read-context.js';
import { resolveStreamSchema } from '../streams/schema-resolution.js';
import type { StreamDefinition } from '../streams/stream-table.js';
import { describeExportCost, estimateExportCost, exportCostStreams } from './export-cost.js';
import { startingBookmarks } from './starting-bookmarks.js';
import { chooseExportMode, type ConfiguredExportMode } from './export-mode.js';
import { cancelLeftoverJobs } from './leftover-jobs.js';
import { jobPositionOf } from '../streams/export-jobs-reader.js';
import type { ExportJobsRun } from '../streams/export-jobs-run.js';
import { plannedExportWindows } from '../streams/windows.js';
import { parseInstant } from '../core/instants.js';

/** Receives progress of a sync; the CLI renders it. */
export interface ProgressListener {
  /** `waits` is updated live with the stream's rate-limit waiting. */
  streamStarted?(stream: string, waits: { readonly rateLimitWaitMs: number }): void;
  planned?(stream: string, unitsTotal: number): void;
  rowsRead?(stream: string, rows: number): void;
  /** A request of the stream waits long for its rate-limit slot (repeated while it waits). */
  rateLimitWait?(stream: string, wait: RateLimitWait): void;
  unitDone?(stream: string, label: string): void;
  committed?(stream: string, rowsWritten: number): void;
  /** A request of the stream failed and is retried after `waitMs` (`attempt` is the one that failed). */
  retrying?(stream: string, retry: { waitMs: number; reason: string; attempt: number }): void;
  streamFinished?(result: StreamResult): void;
}

/** How one stream ended. */
export interface StreamResult {
  stream: string;
  /** `interrupted`: a signal stopped the run; what was committed stays, the rest was rolled back. */
  status: 'complete' | 'failed' | 'interrupted';
  /** Rows committed (after deduplication on the key). */
  rows: number;
  /** Rows read from Iterable, including re-reads. */
  rowsRead: number;
  /** Rows with values kept in `_rescued`. */
  rescued: number;
  /** Lines that were not valid records, kept in `_rejected`. */
  rejected: number;
  /** Windows / lists / tables completed. */
  unitsDone: number;
  /** Commits that moved the bookmark (export windows, or a whole incremental list). */
  bookmarkCommits: number;
  /** Columns added for new fields. */
  columnsAdded: string[];
  durationMs: number;
  /** Milliseconds this stream's requests waited for Iterable's rate limits. */
  rateLimitWaitMs: number;
  /** The stream's bookmark after the run: the last one committed, else the stored one (none: undefined). */
  bookmark?: StreamBookmark;
  error?: Error;
}

export interface SyncOptions {
  streams: readonly StreamDefinition[];
  client: IterableReader;
  destination: Destination;
  startDate: Date | null;
  windowDays: number;
  lookbackMinutes: number;
  /** Ignore stored bookmarks for this run. */
  fullRefresh: boolean;
  /**
   * The sync's start, never later than Iterable's own clock: the last export window ends here,
   * and a stored bookmark later than this is clamped to it.
   */
  runStart: Date;
  logger: Logger;
  progress?: ProgressListener;
  /** Streams read at once (the rate limiter paces requests across them). Default {@link MAX_CONCURRENT_STREAMS}. */
  concurrency?: number;
  /** Records per batch handed to the destination. Default 2000. */
  batchSize?: number;
  /** Smallest adaptive export window, in ms. */
  minWindowMs?: number;
  /**
   * Aborting it stops the sync: no stream starts, no new window is committed, each stream rolls
   * back what it read since its last commit and ends `interrupted`. Abort the client's requests
   * with the same signal so that waits end at once.
   */
  signal?: AbortSignal;
  /** How long one export window may keep failing before its stream fails, in minutes. Default 5. */
  maxWindowRetryMinutes?: number;
  /** `metrics_attribution_days` (campaign_metrics). Default 15. */
  metricsAttributionDays?: number;
  /** `export_mode`: how export streams read (see `chooseExportMode`). Default `stream`. */
  exportMode?: ConfiguredExportMode;
  /** What streams reading through export jobs share; required for jobs (without it every export stream reads data.json). */
  exportJobs?: ExportJobsRun;
}

/**
 * Streams read at once by default: the 16 seed streams all run side by side, as they always
 * have. More gain nothing (every export stream shares the same 4 calls a minute), and each
 * stream running holds its own transaction and staged rows in the destination: 60 at once ran
 * DuckDB out of its memory limit ("Out of Memory Error ... 79.0 MiB used") in one run in two
 * (measured on the load path before the window rebuild).
 */
const MAX_CONCURRENT_STREAMS = 16;

/**
 * Replicates the streams into the destination. Streams run concurrently so that quick streams
 * finish while exports wait for their rate budget; a stream that fails does not stop the others.
 */
export async function runSync(options: SyncOptions): Promise<StreamResult[]> {
  const state = await options.destination.readState();
  const bookmarks = options.fullRefresh
    ? new Map<string, undefined>()
    : startingBookmarks(options.streams, state, options.runStart, options.logger, options.destination.description);
  const jobStreams = await prepareExportJobs(options, bookmarks, state.bookmarks);
  // Before the first export call: what the shared data.json budget will cost this run.
  const cost = estimateExportCost({
    streams: exportCostStreams(options.streams, bookmarks, jobStreams),
    startDateMs: options.startDate?.getTime() ?? null,
    lookbackMinutes: options.lookbackMinutes,
    windowDays: options.windowDays,
    runStartMs: options.runStart.getTime(),
  });
  if (cost.perStream.length > 0) {
    options.logger.info(`export budget of this run: ${describeExportCost(cost)}`, { event: 'export_budget', exportCalls: cost.calls, leastWallMs: cost.leastWallMs });
  }
  const queue = [...options.streams];
  const results = new Map<string, StreamResult>();
  const workers = Math.max(1, Math.min(options.concurrency ?? MAX_CONCURRENT_STREAMS, queue.length));
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let stream = queue.shift(); stream; stream = queue.shift()) {
        const bookmark = bookmarks.get(stream.name);
        if (options.signal?.aborted) {
          results.set(stream.name, { ...emptyResult(stream.name), status: 'interrupted', bookmark: state.bookmarks[stream.name] });
          continue;
        }
        const name = stream.name;
        const context: RequestContext = {
          rateLimitWaitMs: 0,
          onRateLimitWait: (wait: RateLimitWait) => options.progress?.rateLimitWait?.(name, wait),
          onRetry: ({ waitMs, reason, attempt }) => options.progress?.retrying?.(name, { waitMs, reason, attempt }),
        };
        options.progress?.streamStarted?.(stream.name, context);
        const result = await runWithLogContext({ stream: name }, () =>
          runWithRequestContext(context, () => syncStream(stream, bookmark, state.bookmarks[name], options, jobStreams.has(name))),
        );
        result.rateLimitWaitMs = context.rateLimitWaitMs;
        results.set(stream.name, result);
        options.progress?.streamFinished?.(result);
      }
    }),
  );
  return options.streams.map((s) => results.get(s.name)!);
}

/**
 * Chooses each export stream's mode for this run (logged when it is jobs), and cancels the jobs
 * an earlier run left that no stream of this run resumes. Returns the streams that read through jobs.
 */
async function prepareExportJobs(
  options: SyncOptions,
  bookmarks: ReadonlyMap<string, StreamBookmark | undefined>,
  stored: Readonly<Record<string, StreamBookmark>>,
): Promise<Set<string>> {
  const jobStreams = new Set<string>();
  const { exportJobs } = options;
  if (exportJobs === undefined) return jobStreams;
  const endMs = options.runStart.getTime();
  const resumed = new Set<number>();
  for (const stream of options.streams) {
    if (stream.read.kind !== 'export-windows') continue;
    const bookmark = bookmarks.get(stream.name);
    const bookmarkText = stream.replicationKey !== undefined ? bookmark?.[stream.replicationKey] : undefined;
    const planned = plannedExportWindows({
      bookmarkMs: bookmarkText !== undefined ? (parseInstant(bookmarkText)?.getTime() ?? null) : null,
      startDateMs: options.startDate?.getTime() ?? null,
      lookbackMinutes: options.lookbackMinutes,
      endMs,
      windowDays: options.windowDays,
    });
    const choice = chooseExportMode(options.exportMode ?? 'stream', planned);
    if (choice.mode !== 'jobs') continue;
    jobStreams.add(stream.name);
    options.logger.info(`${stream.name}: reading through Iterable's export jobs (${choice.reason})`, { event: 'export_mode', mode: 'jobs' });
    const position = jobPositionOf(bookmark);
    if (position !== undefined) resumed.add(position.jobId);
  }
  await cancelLeftoverJobs({ api: exportJobs.api, bookmarks: stored, resumed, logger: options.logger });
  return jobStreams;
}

function emptyResult(stream: string): StreamResult {
  return { stream, status: 'complete', rows: 0, rowsRead: 0, rescued: 0, rejected: 0, unitsDone: 0, bookmarkCommits: 0, columnsAdded: [], durationMs: 0, rateLimitWaitMs: 0 };
}

async function syncStream(
  stream: StreamDefinition,
  bookmark: StreamBookmark | undefined,
  storedBookmark: StreamBookmark | undefined,
  options: SyncOptions,
  readsThroughJobs: boolean,
): Promise<StreamResult> {
  const started = Date.now();
  const result: StreamResult = { ...emptyResult(stream.name), bookmark: storedBookmark };
  const { logger, progress, signal } = options;
  let load: TableLoad | undefined;
  try {
    signal?.throwIfAborted();
    const resolved = await resolveStreamSchema(stream, options.client, logger);
    load = await options.destination
      .beginLoad(
        {
          name: stream.name,
          keyProperties: stream.keyProperties,
          replicationKey: stream.replicationKey,
          schema: resolved.schema,
        },
        stream.method === 'FULL_TABLE' ? 'replace' : 'upsert',
      )
      .catch((error: unknown) => {
        throw stream.keyPropertiesFor !== undefined && error instanceof SchemaError ? projectTypeKeyError(stream, error) : error;
      });
    const events = readStream({
      client: options.client,
      stream,
      schema: resolved.schema,
      dateFields: resolved.dateFields,
      bookmark,
      startDate: options.startDate,
      windowDays: options.windowDays,
      lookbackMinutes: options.lookbackMinutes,
      runStart: options.runStart,
      logger,
      batchSize: options.batchSize,
      minWindowMs: options.minWindowMs,
      ...(options.maxWindowRetryMinutes !== undefined ? { maxWindowRetryMs: options.maxWindowRetryMinutes * 60_000 } : {}),
      ...(options.metricsAttributionDays !== undefined ? { metricsAttributionDays: options.metricsAttributionDays } : {}),
      ...(readsThroughJobs && options.exportJobs !== undefined ? { exportJobs: options.exportJobs } : {}),
    });
    for await (const event of events) {
      // Stop between events: whatever the event would add or commit is left uncommitted.
      signal?.throwIfAborted();
      switch (event.kind) {
        case 'records': {
          const rejected = event.rejected?.length ?? 0;
          if (event.records.length > 0) await load.write(event.records, event.window);
          if (rejected > 0) await load.reject(event.rejected!);
          result.rowsRead += event.records.length + rejected;
          progress?.rowsRead?.(stream.name, event.records.length + rejected);
          break;
        }
        case 'checkpoint': {
          const commit = await load.commit(event.bookmark);
          if (commit.rejected > 0) {
            const where = event.window ? ` of [${new Date(event.window.startMs).toISOString()}, ${new Date(event.window.endMs).toISOString()})` : '';
            logger.warn(`${stream.name}: ${commit.rejected} line(s)${where} were not loadable records; kept in _rejected`);
          }
          if (event.bookmark) {
            result.bookmark = { ...event.bookmark };
            result.bookmarkCommits += 1;
          }
          result.rows += commit.rowsWritten;
          result.rescued += commit.rowsRescued;
          result.rejected += commit.rejected;
          result.columnsAdded.push(...commit.columnsAdded);
          if (commit.columnsAdded.length > 0) {
            logger.info(`${stream.name}: new column(s) ${commit.columnsAdded.join(', ')}`);
          }
          progress?.committed?.(stream.name, commit.rowsWritten);
          break;
        }
        case 'discard':
          await load.rollback();
          break;
        case 'plan':
          progress?.planned?.(stream.name, event.unitsTotal);
          break;
        case 'unit-done':
          result.unitsDone += 1;
          progress?.unitDone?.(stream.name, event.label);
          break;
      }
    }
  } catch (error) {
    result.error = error instanceof Error ? error : new Error(String(error));
    result.status = error instanceof InterruptedError || signal?.aborted ? 'interrupted' : 'failed';
    if (load) await load.rollback().catch(() => undefined);
    const message = result.error.message;
    if (result.status === 'interrupted') {
      logger.debug(`${stream.name}: stopped; rolled back what was read since its last commit`, { event: 'stream_interrupted', stream: stream.name });
    } else if (error instanceof AuthError) {
      logger.error(`${stream.name}: Iterable refused access: ${message}`);
    } else if (error instanceof ConnectorError) {
      logger.error(`${stream.name}: ${message}`);
    } else {
      logger.error(`${stream.name}: unexpected error: ${result.error.stack ?? message}`);
    }
  } finally {
    if (load) await load.close().catch((e: unknown) => logger.warn(`${stream.name}: closing the load failed: ${String(e)}`));
    result.durationMs = Date.now() - started;
  }
  return result;
}

/**
 * A table keyed otherwise than the stream under this `project_type`: most likely project_type
 * changed since the table was made. Never load it with another key (that would mix two keys).
 */
function projectTypeKeyError(stream: StreamDefinition, error: SchemaError): SchemaError {
  const projectType = stream.projectType ?? 'email';
  return new SchemaError(
    `${error.message}. project_type ${projectType} keys ${stream.name} by (${stream.keyProperties.join(', ')}): ` +
      'if project_type changed since the table was made, set it back, or drop the table as said',
    { cause: error },
  );
}
