import { configFromEnv, readConfigFile, streamNames, validateConfig, type Config, type RawConfig } from '../config/config.js';
import type { Destination } from '../destinations/destination.js';
import { openDestination } from '../destinations/destination-factory.js';
import { SingerDestination } from '../destinations/singer/singer-destination.js';
import { ConfigError } from '../errors.js';
import { IterableClient } from '../iterable/client.js';
import { exportJobsApi } from '../iterable/export-jobs-api.js';
import { JobSlots, type ExportJobsRun } from '../streams/export-jobs-run.js';
import type { Logger } from '../core/types.js';
import type { SingerState } from '../state/singer-state.js';
import { DEFAULT_STREAMS, STREAMS, STREAM_NAMES, type StreamDefinition } from '../streams/stream-table.js';

/** Options shared by the commands (commander's camel-cased flags). */
export interface CommonFlags {
  config?: string;
  destination?: string;
  streams?: string;
  startDate?: string;
  windowDays?: string;
  lookbackMinutes?: string;
  maxWindowRetryMinutes?: string;
  metricsAttributionDays?: string;
  baseUrl?: string;
  region?: string;
  projectType?: string;
  exportMode?: string;
}

/** Loads and validates configuration: config file, then environment, then flags. */
export async function loadConfig(
  flags: CommonFlags,
  logger: Logger,
  options: { requireApiKey?: boolean } = {},
): Promise<Config> {
  const fromFile = flags.config ? await readConfigFile(flags.config) : {};
  const fromFlags: RawConfig = {};
  if (flags.destination !== undefined) fromFlags.destination = flags.destination;
  if (flags.startDate !== undefined) fromFlags.start_date = flags.startDate;
  if (flags.windowDays !== undefined) fromFlags.api_window_in_days = flags.windowDays;
  if (flags.lookbackMinutes !== undefined) fromFlags.lookback_minutes = flags.lookbackMinutes;
  if (flags.maxWindowRetryMinutes !== undefined) fromFlags.max_window_retry_minutes = flags.maxWindowRetryMinutes;
  if (flags.metricsAttributionDays !== undefined) fromFlags.metrics_attribution_days = flags.metricsAttributionDays;
  if (flags.baseUrl !== undefined) fromFlags.base_url = flags.baseUrl;
  if (flags.region !== undefined) fromFlags.region = flags.region;
  if (flags.streams !== undefined) fromFlags.streams = flags.streams;
  if (flags.projectType !== undefined) fromFlags.project_type = flags.projectType;
  if (flags.exportMode !== undefined) fromFlags.export_mode = flags.exportMode;
  return validateConfig([fromFile, configFromEnv(process.env), fromFlags], {
    requireApiKey: options.requireApiKey,
    warn: (message) => logger.warn(message),
  });
}

/**
 * The streams named by `--streams a,b,c` or the `streams` key; `all` is every stream, and none
 * named means the 16 seed streams (contract §2). Unknown names are an error listing the valid ones.
 */
export function selectStreams(list: string | readonly string[] | 'all' | undefined): StreamDefinition[] {
  if (list === undefined) return [...DEFAULT_STREAMS];
  const names = streamNames(list);
  if (names === 'all') return [...STREAMS];
  const unknown = names.filter((n) => !STREAM_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown stream(s) ${unknown.join(', ')}; valid streams: ${STREAM_NAMES.join(', ')}`);
  }
  if (names.length === 0) throw new ConfigError(`--streams names no stream; valid streams: ${STREAM_NAMES.join(', ')}`);
  return STREAMS.filter((s) => names.includes(s.name));
}

/**
 * The streams whose bookmarks `reset` forgets: `--streams a,b`, or every stream with `--all`.
 * Forgetting everything must be asked for explicitly, so neither (or both) is an error.
 */
export function streamsToReset(flags: { streams?: string; all?: boolean }): string[] | 'all' {
  if (flags.all === true && flags.streams !== undefined) {
    throw new ConfigError('reset takes --streams a,b or --all, not both');
  }
  if (flags.all === true) return 'all';
  if (flags.streams === undefined) {
    throw new ConfigError('reset needs --streams a,b (the streams whose bookmarks to forget) or --all (every stream)');
  }
  return selectStreams(flags.streams).map((s) => s.name);
}

/** An Iterable client for the configuration. */
export function createClient(config: Config, logger: Logger, signal?: AbortSignal): IterableClient {
  const scale = Number(process.env.ITERABLE_SYNC_RATE_LIMIT_SCALE ?? '1');
  return new IterableClient({
    apiKey: config.apiKey,
    baseUrl: config.baseUrl,
    logger,
    signal,
    // Knobs for tests and benchmarks against a local fake (documented in the README's
    // development section): divide rate-limit periods, shorten backoff and the idle timeout.
    rateLimitTimeScale: Number.isFinite(scale) && scale > 0 ? scale : scale === 0 ? 0 : 1,
    ...(process.env.ITERABLE_SYNC_BACKOFF_BASE_MS ? { backoffBaseMs: Number(process.env.ITERABLE_SYNC_BACKOFF_BASE_MS) } : {}),
    ...(process.env.ITERABLE_SYNC_BACKOFF_MAX_MS ? { backoffMaxMs: Number(process.env.ITERABLE_SYNC_BACKOFF_MAX_MS) } : {}),
    ...(process.env.ITERABLE_SYNC_IDLE_TIMEOUT_MS ? { idleTimeoutMs: Number(process.env.ITERABLE_SYNC_IDLE_TIMEOUT_MS) } : {}),
  });
}

/** What the streams reading through export jobs share in one run (see `readExportJobs`). */
export function createExportJobsRun(client: IterableClient, signal?: AbortSignal): ExportJobsRun {
  // Knobs for tests against a local fake (documented in the README's development section).
  const knob = (name: string): number | undefined => {
    const value = Number(process.env[name] ?? '');
    return process.env[name] && Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const pollMinMs = knob('ITERABLE_SYNC_JOB_POLL_MIN_MS');
  const pollMaxMs = knob('ITERABLE_SYNC_JOB_POLL_MAX_MS');
  const queuedReportMs = knob('ITERABLE_SYNC_JOB_QUEUED_REPORT_MS');
  return {
    api: exportJobsApi(client),
    slots: new JobSlots(),
    ...(signal !== undefined ? { signal } : {}),
    ...(pollMinMs !== undefined ? { pollMinMs } : {}),
    ...(pollMaxMs !== undefined ? { pollMaxMs } : {}),
    ...(queuedReportMs !== undefined ? { queuedReportMs } : {}),
  };
}

/** True for the destination URLs that mean Singer messages on stdout. */
export function isSingerDestination(url: string): boolean {
  return url === '-' || url === 'singer:' || url === 'singer';
}

/** Opens the destination for a URL (DuckDB, PostgreSQL, or Singer on stdout). */
export async function createDestination(
  url: string,
  logger: Logger,
  singer: { state?: SingerState; onRejected?: ConstructorParameters<typeof SingerDestination>[0]['onRejected'] } = {},
): Promise<Destination> {
  const destination = isSingerDestination(url)
    ? new SingerDestination({ out: process.stdout, state: singer.state, onRejected: singer.onRejected })
    : await openDestination(url, { logger });
  await destination.open();
  return destination;
}
