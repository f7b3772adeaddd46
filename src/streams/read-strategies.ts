import type { Row, RowWindow } from '../core/rows.js';
import type { JsonRecord, JsonSchema, Logger, RejectedRecord } from '../core/types.js';
import { AuthError, ConfigError, FatalApiError, RetryableApiError, StreamFailedError } from '../errors.js';
import type { RequestOptions } from '../iterable/client.js';
import { FailureBudget } from '../iterable/failure-budget.js';
import type { EndpointFamily, Query } from '../iterable/types.js';
import { DEFAULT_PAGE_SIZE } from '../iterable/rate-limits.js';
import type { StreamBookmark } from '../state/singer-state.js';
import { formatBookmark, formatIterableTime, parseInstant } from '../time/instants.js';
import { ExportLineParser, parseExportLines } from './export-lines.js';
import { readExportJobs, type ExportJobsRun } from './export-jobs-reader.js';
import { normalizeEpochFields } from './records.js';
import { dateTimeFields } from './schemas.js';
import type { ReadStrategy, StreamDefinition } from './stream-table.js';
import { advanceCursor, exportStartMs, MS_PER_DAY, nextWindow, type AdaptiveCursor, type TimeWindow } from './windows.js';

/** The calls a read strategy makes; the IterableClient provides them. */
export interface IterableReader {
  getJson<T>(path: string, query: Query, family: EndpointFamily): Promise<T>;
  getJsonUrl<T>(url: string, family: EndpointFamily): Promise<T>;
  streamLines(path: string, query: Query, family: EndpointFamily): AsyncGenerator<string>;
  streamLineBatches(path: string, query: Query, family: EndpointFamily, options?: RequestOptions): AsyncGenerator<string[]>;
}

/** What a strategy yields; the sync orchestrator turns these into destination calls. */
export type ReadEvent =
  /**
   * A bounded batch of normalised rows, with the lines that were not records (`rejected`) and,
   * for event exports, the window they cover (see `RowWindow`).
   */
  | { kind: 'records'; records: Row[]; rejected?: RejectedRecord[]; window?: RowWindow }
  /** Everything yielded so far is complete: commit it with this bookmark (null = none). */
  | { kind: 'checkpoint'; bookmark: StreamBookmark | null; window?: TimeWindow }
  /** Drop everything yielded since the last checkpoint; the strategy reads it again. */
  | { kind: 'discard'; reason: string }
  /** How many units (windows, lists, …) the strategy expects, for progress. */
  | { kind: 'plan'; unitsTotal: number }
  /** One unit (window, list, page set) done. */
  | { kind: 'unit-done'; label: string };

/** Everything a strategy needs to read one stream. */
export interface ReadContext {
  client: IterableReader;
  stream: StreamDefinition;
  /** The stream's schema, with custom fields resolved (users). */
  schema: JsonSchema;
  /** Custom `date` fields whose values are normalised to ISO 8601 (users). */
  dateFields?: ReadonlySet<string>;
  /** The stored bookmark, or undefined for a first (or full-refresh) run. */
  bookmark: StreamBookmark | undefined;
  startDate: Date | null;
  windowDays: number;
  lookbackMinutes: number;
  /** The sync's start; the last window ends here and no bookmark passes it. */
  runStart: Date;
  logger: Logger;
  /** Records per `records` event. Default 2000. */
  batchSize?: number;
  /** Smallest window tried after failures, in ms. Default 15 minutes. */
  minWindowMs?: number;
  /** Failed window reads in a row before the stream gives up. Default 6. */
  maxWindowFailures?: number;
  /**
   * How long one export window may keep failing (retries, rate-limit waits and smaller re-reads
   * included) before the stream gives up, in ms. Default 5 minutes.
   */
  maxWindowRetryMs?: number;
  /** Set when this export stream reads through export jobs this run (export_mode); else data.json windows. */
  exportJobs?: ExportJobsRun;
}

/** Default of `ReadContext.maxWindowRetryMs`: 5 minutes. */
export const DEFAULT_MAX_WINDOW_RETRY_MS = 5 * 60_000;

/** Runs the stream's read strategy. */
export function readStream(ctx: ReadContext): AsyncGenerator<ReadEvent> {
  const read: ReadStrategy = ctx.stream.read;
  switch (read.kind) {
    case 'list-endpoint':
      return readListEndpoint(ctx, read.path, read.recordsKey, read.family);
    case 'paged-list':
      return readIncrementalList(ctx, pagedList(ctx, read.path, {}, read.recordsKey, read.family));
    case 'template-fanout':
      return readIncrementalList(ctx, templateFanout(ctx));
    case 'list-members':
      return readListMembers(ctx);
    case 'metadata-walk':
      return readMetadata(ctx);
    case 'export-windows':
      return ctx.exportJobs !== undefined ? readExportThroughJobs(ctx, read.dataTypeName, ctx.exportJobs) : readExportWindows(ctx, read.dataTypeName);
  }
}

function batchSizeOf(ctx: ReadContext): number {
  return ctx.batchSize ?? 2000;
}

function recordsOf(body: unknown, key: string, path: string): JsonRecord[] {
  const value = (body as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(value)) {
    throw new FatalApiError(`GET ${path}: expected a JSON object with a "${key}" array, got ${describe(body)}`, {
      method: 'GET',
      path,
    });
  }
  return value as JsonRecord[];
}

function describe(body: unknown): string {
  const text = JSON.stringify(body) ?? String(body);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

async function* readListEndpoint(
  ctx: ReadContext,
  path: string,
  recordsKey: string,
  family: EndpointFamily,
): AsyncGenerator<ReadEvent> {
  const epochFields = dateTimeFields(ctx.schema);
  const body = await ctx.client.getJson<unknown>(path, {}, family);
  const records = recordsOf(body, recordsKey, path).map((r) => normalizeEpochFields(r, epochFields));
  yield* inBatches(records, batchSizeOf(ctx));
  yield { kind: 'checkpoint', bookmark: null };
}

function* inBatches(records: JsonRecord[], size: number): Generator<ReadEvent> {
  for (let i = 0; i < records.length; i += size) yield { kind: 'records', records: records.slice(i, i + size) };
}

/**
 * Pages through a list endpoint with page/pageSize, following `nextPageUrl` (same origin only,
 * enforced by the client) and refusing a repeated page so paging can never loop. A legacy
 * unpaginated answer (no count, no next page) ends the walk.
 */
async function* pagedList(
  ctx: ReadContext,
  path: string,
  query: Query,
  recordsKey: string,
  family: EndpointFamily,
): AsyncGenerator<JsonRecord[]> {
  const seenUrls = new Set<string>();
  let page = 1;
  let seen = 0;
  let body = await ctx.client.getJson<Record<string, unknown>>(path, { ...query, page, pageSize: DEFAULT_PAGE_SIZE }, family);
  for (;;) {
    const records = recordsOf(body, recordsKey, path);
    seen += records.length;
    yield records;
    const next = body.nextPageUrl;
    const total = Object.entries(body).find(([k, v]) => /^total\w*Count$/.test(k) && typeof v === 'number')?.[1] as
      | number
      | undefined;
    if (typeof next === 'string' && next !== '') {
      if (seenUrls.has(next)) {
        throw new FatalApiError(`GET ${path}: nextPageUrl repeats ${next}; stopping to avoid a loop`, { method: 'GET', path });
      }
      seenUrls.add(next);
      if (records.length === 0) break;
      body = await ctx.client.getJsonUrl<Record<string, unknown>>(next, family);
    } else if (total !== undefined && seen < total && records.length > 0) {
      page += 1;
      body = await ctx.client.getJson<Record<string, unknown>>(path, { ...query, page, pageSize: DEFAULT_PAGE_SIZE }, family);
    } else {
      break;
    }
  }
}

const TEMPLATE_TYPES = ['Base', 'Blast', 'Triggered', 'Workflow'] as const;
const MESSAGE_MEDIUMS = ['Email', 'Push', 'InApp', 'SMS'] as const;

/** Templates of every template type × message medium; each record notes its pair. */
async function* templateFanout(ctx: ReadContext): AsyncGenerator<JsonRecord[]> {
  for (const templateType of TEMPLATE_TYPES) {
    for (const messageMedium of MESSAGE_MEDIUMS) {
      for await (const page of pagedList(ctx, '/api/templates', { templateType, messageMedium }, 'templates', 'templates')) {
        yield page.map((t) => ({ ...t, templateType: t.templateType ?? templateType, messageMedium: t.messageMedium ?? messageMedium }));
      }
    }
  }
}

/**
 * Incremental JSON lists (campaigns, templates): Iterable returns everything, so records
 * updated before the bookmark (minus the lookback) are skipped, and the bookmark becomes the
 * newest `updatedAt` seen, never later than the run's start. Without a bookmark, all are kept.
 */
async function* readIncrementalList(ctx: ReadContext, pages: AsyncGenerator<JsonRecord[]>): AsyncGenerator<ReadEvent> {
  const key = ctx.stream.replicationKey ?? 'updatedAt';
  const epochFields = dateTimeFields(ctx.schema);
  const bookmarkMs = bookmarkInstant(ctx)?.getTime() ?? null;
  // The first sync keeps every campaign and template, whatever start_date says: they are the
  // dimensions that events within the start date refer to (a triggered campaign last edited
  // years ago still sends today). Later syncs keep what changed since the bookmark.
  const floorMs = bookmarkMs !== null ? bookmarkMs - ctx.lookbackMinutes * 60_000 : Number.NEGATIVE_INFINITY;
  let newestMs = bookmarkMs ?? Number.NEGATIVE_INFINITY;
  for await (const page of pages) {
    const kept: JsonRecord[] = [];
    for (const record of page) {
      normalizeEpochFields(record, epochFields);
      const value = record[key];
      const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      // A record without a usable replication key is always kept (never silently dropped).
      if (Number.isNaN(ms) || ms >= floorMs) kept.push(record);
      if (!Number.isNaN(ms) && ms > newestMs) newestMs = ms;
    }
    yield* inBatches(kept, batchSizeOf(ctx));
  }
  const capped = Math.min(newestMs, ctx.runStart.getTime());
  yield {
    kind: 'checkpoint',
    bookmark: Number.isFinite(capped) ? { [key]: formatBookmark(new Date(capped)) } : null,
  };
}

async function* readListMembers(ctx: ReadContext): AsyncGenerator<ReadEvent> {
  const lists = recordsOf(await ctx.client.getJson<unknown>('/api/lists', {}, 'lists'), 'lists', '/api/lists');
  yield { kind: 'plan', unitsTotal: lists.length };
  const updatedAt = ctx.runStart.toISOString();
  const batchSize = batchSizeOf(ctx);
  for (const list of lists) {
    const listId = list.id;
    for (let attempt = 1; ; attempt++) {
      try {
        let batch: JsonRecord[] = [];
        for await (const line of ctx.client.streamLines('/api/lists/getUsers', { listId: String(listId) }, 'listUsers')) {
          const email = line.trim();
          if (!email) continue;
          batch.push({ email, listId, updatedAt });
          if (batch.length >= batchSize) {
            yield { kind: 'records', records: batch };
            batch = [];
          }
        }
        if (batch.length > 0) yield { kind: 'records', records: batch };
        break;
      } catch (error) {
        // A re-read list only repeats (email, listId) keys, which the load deduplicates.
        if (error instanceof RetryableApiError && attempt < (ctx.maxWindowFailures ?? 6)) {
          ctx.logger.warn(`list_users: list ${String(listId)} cut mid-body, reading it again`, { attempt });
          continue;
        }
        if (error instanceof FatalApiError && error.request.status === 400) {
          ctx.logger.warn(`list_users: list ${String(listId)} is gone (deleted during the sync?); skipped`, {
            error: error.message,
          });
          break;
        }
        throw error;
      }
    }
    yield { kind: 'unit-done', label: `list ${String(listId)}` };
  }
  yield { kind: 'checkpoint', bookmark: null };
}

async function* readMetadata(ctx: ReadContext): AsyncGenerator<ReadEvent> {
  const tables = recordsOf(await ctx.client.getJson<unknown>('/api/metadata', {}, 'metadata'), 'results', '/api/metadata');
  yield { kind: 'plan', unitsTotal: tables.length };
  const epochFields = dateTimeFields(ctx.schema);
  for (const tableEntry of tables) {
    const table = String(tableEntry.name);
    const tablePath = `/api/metadata/${encodeURIComponent(table)}`;
    const markers = new Set<string>();
    let marker: string | undefined;
    do {
      const page = await ctx.client.getJson<Record<string, unknown>>(tablePath, { nextMarker: marker }, 'metadata');
      const batch: JsonRecord[] = [];
      for (const keyEntry of recordsOf(page, 'results', tablePath)) {
        const key = String(keyEntry.key);
        try {
          const value = await ctx.client.getJson<JsonRecord>(`${tablePath}/${encodeURIComponent(key)}`, {}, 'metadata');
          batch.push(normalizeEpochFields({ ...keyEntry, ...value, table, key }, epochFields));
        } catch (error) {
          if (error instanceof FatalApiError && error.request.status === 404) {
            ctx.logger.warn(`metadata: key ${key} of table ${table} disappeared during the sync; skipped`);
            continue;
          }
          throw error;
        }
      }
      yield { kind: 'records', records: batch };
      const next = page.nextMarker;
      marker = typeof next === 'string' && next !== '' ? next : undefined;
      if (marker !== undefined) {
        if (markers.has(marker)) {
          throw new FatalApiError(`GET ${tablePath}: nextMarker ${marker} repeats; stopping to avoid a loop`, {
            method: 'GET',
            path: tablePath,
          });
        }
        markers.add(marker);
      }
    } while (marker !== undefined);
    yield { kind: 'unit-done', label: `table ${table}` };
  }
  yield { kind: 'checkpoint', bookmark: null };
}

function bookmarkInstant(ctx: ReadContext): Date | null {
  const key = ctx.stream.replicationKey;
  const text = key ? ctx.bookmark?.[key] : undefined;
  if (!text) return null;
  return parseInstant(text);
}

const SECOND_MS = 1000;

/**
 * Reads an export stream in half-open windows `[start, end)` from the bookmark (minus the
 * lookback) or the start date up to the run's start. Each window is committed with the bookmark
 * = its end. A window whose body is cut or stalls is discarded and read again, halved, down to
 * a floor; after too many failures in a row the stream fails with a message naming the window.
 */
/** The range an export stream reads this run, on whole seconds; a ConfigError without any start. */
function exportRange(ctx: ReadContext): { startMs: number; endMs: number; bookmark: Date | null } {
  // Iterable's date parameters have whole seconds; every boundary is on a second.
  const endMs = Math.floor(ctx.runStart.getTime() / SECOND_MS) * SECOND_MS;
  const bookmark = bookmarkInstant(ctx);
  const startMsRaw = exportStartMs({
    bookmarkMs: bookmark?.getTime() ?? null,
    startDateMs: ctx.startDate?.getTime() ?? null,
    lookbackMinutes: ctx.lookbackMinutes,
    endMs,
  });
  if (startMsRaw === null) {
    throw new ConfigError(
      `${ctx.stream.name} has no bookmark and no start_date: set start_date (e.g. "start_date": "2024-01-01") in the config or pass --start-date`,
    );
  }
  return { startMs: Math.floor(startMsRaw / SECOND_MS) * SECOND_MS, endMs, bookmark };
}

/** Reads an export stream through export jobs (see `readExportJobs`) over the range data.json would read. */
async function* readExportThroughJobs(ctx: ReadContext, dataTypeName: string, run: ExportJobsRun): AsyncGenerator<ReadEvent> {
  const { startMs, endMs, bookmark } = exportRange(ctx);
  const replicationKey = ctx.stream.replicationKey ?? 'createdAt';
  if (startMs >= endMs) {
    if (bookmark !== null) {
      yield { kind: 'checkpoint', bookmark: { [replicationKey]: formatBookmark(new Date(Math.min(bookmark.getTime(), endMs))) } };
    }
    return;
  }
  yield* readExportJobs(ctx, dataTypeName, run, { startMs, endMs });
}

async function* readExportWindows(ctx: ReadContext, dataTypeName: string): AsyncGenerator<ReadEvent> {
  const { stream } = ctx;
  const replicationKey = stream.replicationKey ?? 'createdAt';
  const { startMs, endMs, bookmark } = exportRange(ctx);
  const maxWindowMs = Math.max(SECOND_MS, Math.round((ctx.windowDays * MS_PER_DAY) / SECOND_MS) * SECOND_MS);
  const policy = {
    maxWindowMs,
    minWindowMs: Math.max(SECOND_MS, ctx.minWindowMs ?? 15 * 60_000),
    maxConsecutiveFailures: ctx.maxWindowFailures ?? 6,
  };
  yield { kind: 'plan', unitsTotal: Math.ceil((endMs - startMs) / maxWindowMs) };

  const parser = new ExportLineParser({
    isEvent: stream.keyProperties.includes('_event_id'),
    keyFields: stream.keyProperties.filter((k) => k !== '_event_id'),
    dateFields: [...(ctx.dateFields ?? [])],
  });
  const batchSize = batchSizeOf(ctx);
  const maxWindowRetryMs = ctx.maxWindowRetryMs ?? DEFAULT_MAX_WINDOW_RETRY_MS;
  if (startMs >= endMs && bookmark !== null) {
    // Nothing to read (a bookmark clamped to now, no lookback): still store the bookmark, so
    // the destination or the Singer target holds one that Iterable's clock has reached.
    yield { kind: 'checkpoint', bookmark: { [replicationKey]: formatBookmark(new Date(Math.min(bookmark.getTime(), endMs))) } };
    return;
  }
  let cursor: AdaptiveCursor = { startMs, windowMs: maxWindowMs, consecutiveFailures: 0 };
  // One budget per window start: it bounds the time spent failing there, halvings included.
  let budget = new FailureBudget(maxWindowRetryMs);
  /** The full window that failed first at the cursor's start, for the message. */
  let firstFailedLabel: string | undefined;
  for (let window = nextWindow(cursor, endMs); window !== null; window = nextWindow(cursor, endMs)) {
    const label = `[${new Date(window.startMs).toISOString()}, ${new Date(window.endMs).toISOString()})`;
    const source = `export ${dataTypeName} ${label}`;
    const rowWindow: RowWindow | undefined = stream.keyDeterminesReplicationKey
      ? { field: replicationKey, start: new Date(window.startMs).toISOString(), end: new Date(window.endMs).toISOString() }
      : undefined;
    const rowsOf = (lines: readonly string[]): ReadEvent => {
      const { rows, rejected } = parseExportLines(lines, parser, stream.name, source);
      return { kind: 'records', records: rows, rejected, window: rowWindow };
    };
    const query: Query = {
      dataTypeName,
      startDateTime: formatIterableTime(new Date(window.startMs)),
      endDateTime: formatIterableTime(new Date(window.endMs)),
    };
    let batch: string[] = [];
    try {
      for await (const lines of ctx.client.streamLineBatches('/api/export/data.json', query, 'export', { failureBudget: budget })) {
        if (batch.length === 0 && lines.length >= batchSize) {
          yield rowsOf(lines);
          continue;
        }
        for (const line of lines) batch.push(line);
        if (batch.length >= batchSize) {
          yield rowsOf(batch);
          batch = [];
        }
      }
    } catch (error) {
      // A cut or stalled body, or a request whose own retries ran out on such failures: the
      // window is read again, smaller. Anything else (auth, bad parameters) fails the stream.
      const isWindowFailure =
        error instanceof RetryableApiError || (error instanceof FatalApiError && error.cause instanceof RetryableApiError);
      if (!isWindowFailure) throw error;
      budget.recordFailure();
      firstFailedLabel ??= label;
      const step = advanceCursor(cursor, window, 'failure', policy);
      yield { kind: 'discard', reason: error.message };
      const resume =
        `Everything before ${new Date(window.startMs).toISOString()} is committed; ` +
        `run \`iterable-sync sync --streams ${stream.name}\` again to resume from there`;
      if (budget.isSpent) {
        const minutes = Number((maxWindowRetryMs / 60_000).toFixed(2));
        throw new StreamFailedError(
          stream.name,
          `${stream.name}: export window ${firstFailedLabel} kept failing for ${minutes} min, the max_window_retry_minutes limit` +
            `${firstFailedLabel === label ? '' : `, down to ${label}`} (last: ${error.message}). ${resume}.`,
          { cause: error },
        );
      }
      if (step.giveUp) {
        throw new StreamFailedError(
          stream.name,
          `${stream.name}: export window ${label} failed ${step.cursor.consecutiveFailures} times in a row ` +
            `(last: ${error.message}). ${resume}, or lower api_window_in_days.`,
          { cause: error },
        );
      }
      ctx.logger.warn(`${stream.name}: window ${label} failed, reading it again in a smaller window`, {
        error: error.message,
        nextWindowHours: step.cursor.windowMs / 3_600_000,
      });
      cursor = step.cursor;
      continue;
    }
    if (batch.length > 0) yield rowsOf(batch);
    yield { kind: 'checkpoint', bookmark: { [replicationKey]: formatBookmark(new Date(window.endMs)) }, window };
    yield { kind: 'unit-done', label };
    cursor = advanceCursor(cursor, window, 'success', policy).cursor;
    budget = new FailureBudget(maxWindowRetryMs);
    firstFailedLabel = undefined;
  }
}

/** Whether an error means the key may not read this stream. */
export function isPermissionError(error: unknown): error is AuthError {
  return error instanceof AuthError;
}
