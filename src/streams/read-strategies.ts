import type { RowWindow } from '../core/rows.js';
import type { JsonRecord } from '../core/types.js';
import { ConfigError, FatalApiError, RetryableApiError, StreamFailedError } from '../errors.js';
import { FailureBudget } from '../iterable/failure-budget.js';
import type { EndpointFamily, Query } from '../iterable/types.js';
import { markerPaging, pageNumberPaging, readPages, recordsOf } from '../iterable/pager.js';
import { parseInstant } from '../core/instants.js';
import { formatIterableTime } from '../iterable/time-formats.js';
import { formatBookmark } from '../state/bookmark.js';
import {
  batchCampaignIds,
  CAMPAIGN_METRICS_PATH,
  DEFAULT_METRICS_ATTRIBUTION_DAYS,
  MAX_METRICS_REQUEST_TARGET_BYTES,
  metricsRows,
  selectCampaignsForMetrics,
  type CampaignForMetrics,
} from './campaign-metrics.js';
import { BATCH_SIZE, exportLineParserFor, parseExportLines } from './export-lines.js';
import { readExportJobs } from './export-jobs-reader.js';
import type { ExportJobsRun } from './export-jobs-run.js';
import type { ReadContext, ReadEvent } from './read-context.js';
import { normalizeEpochFields } from './records.js';
import { fillUserKey, listMemberRecord, USER_IDENTITY } from './project-types.js';
import { dateTimeFields } from './schemas.js';
import type { ReadStrategy } from './stream-table.js';
import { advanceCursor, MS_PER_DAY, nextWindow, planExportWindows, type AdaptiveCursor, type ExportWindowPlan } from './windows.js';

/** Default of `ReadContext.maxWindowRetryMs`: 5 minutes. */
const DEFAULT_MAX_WINDOW_RETRY_MS = 5 * 60_000;

/** Default of `ReadContext.maxWindowFailures`: 6 failed reads in a row. */
const DEFAULT_MAX_WINDOW_FAILURES = 6;

/** Runs the stream's read strategy. */
export function readStream(ctx: ReadContext): AsyncGenerator<ReadEvent> {
  const read: ReadStrategy = ctx.stream.read;
  switch (read.kind) {
    case 'list-endpoint':
      return readListEndpoint(ctx, read.path, read.recordsKey, read.family);
    case 'paged-list':
      return readIncrementalList(ctx, readPages(ctx.client, read.path, read.family, read.recordsKey, pageNumberPaging({})));
    case 'template-fanout':
      return readIncrementalList(ctx, templateFanout(ctx));
    case 'list-members':
      return readListMembers(ctx);
    case 'metadata-walk':
      return readMetadata(ctx);
    case 'export-windows':
      return ctx.exportJobs !== undefined ? readExportThroughJobs(ctx, read.dataTypeName, ctx.exportJobs) : readExportWindows(ctx, read.dataTypeName);
    case 'campaign-metrics':
      return readCampaignMetrics(ctx);
  }
}

function batchSizeOf(ctx: ReadContext): number {
  return ctx.batchSize ?? BATCH_SIZE;
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

const TEMPLATE_TYPES = ['Base', 'Blast', 'Triggered', 'Workflow'] as const;
const MESSAGE_MEDIUMS = ['Email', 'Push', 'InApp', 'SMS'] as const;

/** Templates of every template type × message medium; each record notes its pair. */
async function* templateFanout(ctx: ReadContext): AsyncGenerator<JsonRecord[]> {
  for (const templateType of TEMPLATE_TYPES) {
    for (const messageMedium of MESSAGE_MEDIUMS) {
      const paging = pageNumberPaging({ templateType, messageMedium });
      for await (const page of readPages(ctx.client, '/api/templates', 'templates', 'templates', paging)) {
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
  const projectType = ctx.stream.projectType ?? 'email';
  const identity = USER_IDENTITY[projectType];
  const query: Query = identity.preferUserId ? { preferUserId: 'true' } : {};
  for (const list of lists) {
    const listId = list.id;
    for (let attempt = 1; ; attempt++) {
      try {
        let batch: JsonRecord[] = [];
        for await (const line of ctx.client.streamLines('/api/lists/getUsers', { listId: String(listId), ...query }, 'listUsers')) {
          const member = line.trim();
          if (!member) continue;
          const record = listMemberRecord(member, projectType);
          fillUserKey(record, identity.keyField);
          record.listId = listId;
          record.updatedAt = updatedAt;
          batch.push(record);
          if (batch.length >= batchSize) {
            yield { kind: 'records', records: batch };
            batch = [];
          }
        }
        if (batch.length > 0) yield { kind: 'records', records: batch };
        break;
      } catch (error) {
        // A re-read list only repeats (member, listId) keys, which the load deduplicates.
        if (error instanceof RetryableApiError && attempt < (ctx.maxWindowFailures ?? DEFAULT_MAX_WINDOW_FAILURES)) {
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
    for await (const keyEntries of readPages(ctx.client, tablePath, 'metadata', 'results', markerPaging())) {
      const batch: JsonRecord[] = [];
      for (const keyEntry of keyEntries) {
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
    }
    yield { kind: 'unit-done', label: `table ${table}` };
  }
  yield { kind: 'checkpoint', bookmark: null };
}

/**
 * Campaign metrics: lists the campaigns (GET /api/campaigns), picks those whose metrics may have
 * changed since the last read (`selectCampaignsForMetrics`), and reads their metrics CSV in
 * requests of as many ids as the URL allows, committing each request's rows.
 */
async function* readCampaignMetrics(ctx: ReadContext): AsyncGenerator<ReadEvent> {
  const { stream, logger } = ctx;
  const replicationKey = stream.replicationKey ?? 'updatedAt';
  const campaigns: CampaignForMetrics[] = [];
  const updatedAtById = new Map<number, string>();
  for await (const page of readPages(ctx.client, '/api/campaigns', 'campaigns', 'campaigns', pageNumberPaging({}))) {
    for (const c of page) {
      const id = typeof c.id === 'string' && /^\d{1,15}$/.test(c.id) ? Number(c.id) : c.id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
        logger.warn(`${stream.name}: campaign ${JSON.stringify(c.id)} of GET /api/campaigns has no whole-number id; its metrics cannot be asked for`);
        continue;
      }
      const updatedAtMs = instantMs(c.updatedAt);
      if (updatedAtMs !== null) updatedAtById.set(id, new Date(updatedAtMs).toISOString());
      campaigns.push({ id, updatedAtMs, endedAtMs: instantMs(c.endedAt) });
    }
  }
  // The bookmark is the start of the run that last read the metrics: every campaign updated
  // before it was listed, and read, after it.
  const lastReadMs = bookmarkInstant(ctx)?.getTime() ?? null;
  const attributionDays = ctx.metricsAttributionDays ?? DEFAULT_METRICS_ATTRIBUTION_DAYS;
  const ids = selectCampaignsForMetrics(campaigns, {
    lastReadMs,
    lookbackMs: ctx.lookbackMinutes * 60_000,
    attributionMs: attributionDays * MS_PER_DAY,
  });
  const batches = batchCampaignIds(ids, CAMPAIGN_METRICS_PATH, MAX_METRICS_REQUEST_TARGET_BYTES);
  const kept = campaigns.length - ids.length;
  logger.info(
    `${stream.name}: reading the metrics of ${ids.length} of ${campaigns.length} campaigns in ${batches.length} request(s)` +
      (kept > 0 ? `; ${kept} ended over ${attributionDays} days before the last read and keep their metrics` : ''),
    { campaigns: campaigns.length, read: ids.length, requests: batches.length },
  );
  yield { kind: 'plan', unitsTotal: batches.length };
  let first = 1;
  for (const batch of batches) {
    const label = `campaigns ${first} to ${first + batch.length - 1} of ${ids.length}`;
    const text = await ctx.client.getText(CAMPAIGN_METRICS_PATH, { campaignId: batch.map(String) }, 'campaignMetrics');
    const rows = metricsRows(text, { stream: stream.name, source: `GET ${CAMPAIGN_METRICS_PATH} (${label})`, updatedAtById });
    for (const [column, cells] of groupBy(rows.nonNumeric, (cell) => cell.column)) {
      const examples = cells.slice(0, 3).map((cell) => `campaign ${cell.campaignId}: ${JSON.stringify(cell.text)}`).join(', ');
      logger.warn(
        `${stream.name}: ${cells.length} value(s) of ${column} are not numbers (${examples}); kept as text in the row ` +
          '(_rescued in a database), never as 0',
      );
    }
    const asked = new Set(batch);
    const missing = batch.length - rows.records.filter((r) => asked.has(r.id as number)).length;
    if (missing > 0) logger.debug(`${stream.name}: Iterable sent no metrics row for ${missing} campaign(s) of ${label}`);
    if (rows.rejected.length > 0) yield { kind: 'records', records: [], rejected: rows.rejected };
    yield* inBatches(rows.records, batchSizeOf(ctx));
    yield { kind: 'checkpoint', bookmark: null };
    yield { kind: 'unit-done', label };
    first += batch.length;
  }
  yield { kind: 'checkpoint', bookmark: { [replicationKey]: formatBookmark(ctx.runStart) } };
}

/** Epoch ms of an Iterable date (epoch ms, or a date text), or null. */
function instantMs(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(keyOf(item), [...(groups.get(keyOf(item)) ?? []), item]);
  return groups;
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
/** The range an export stream reads this run, planned on whole seconds; a ConfigError without any start. */
function exportRange(ctx: ReadContext): ExportWindowPlan & { bookmark: Date | null } {
  const bookmark = bookmarkInstant(ctx);
  // Every boundary is on a second (Iterable's date parameters have whole seconds).
  const plan = planExportWindows({
    bookmarkMs: bookmark?.getTime() ?? null,
    startDateMs: ctx.startDate?.getTime() ?? null,
    lookbackMinutes: ctx.lookbackMinutes,
    runStartMs: ctx.runStart.getTime(),
    windowDays: ctx.windowDays,
  });
  if (plan === null) {
    throw new ConfigError(
      `${ctx.stream.name} has no bookmark and no start_date: set start_date (e.g. "start_date": "2024-01-01") in the config or pass --start-date`,
    );
  }
  return { ...plan, bookmark };
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
  const { startMs, endMs, windowMs: maxWindowMs, windows, bookmark } = exportRange(ctx);
  const policy = {
    maxWindowMs,
    minWindowMs: Math.max(SECOND_MS, ctx.minWindowMs ?? 15 * 60_000),
    maxConsecutiveFailures: ctx.maxWindowFailures ?? DEFAULT_MAX_WINDOW_FAILURES,
  };
  yield { kind: 'plan', unitsTotal: windows };

  const parser = exportLineParserFor(ctx.stream, ctx.dateFields);
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
