/**
 * The pure parts of the `campaign_metrics` stream: which campaigns a run reads, how their ids are
 * batched into requests, and how Iterable's metrics CSV becomes rows. The read strategy that
 * calls Iterable is `readCampaignMetrics` in `read-strategies.ts`.
 */
import type { JsonRecord, RejectedRecord } from '../core/types.js';
import { parseCsvRecords } from './csv-records.js';

/** Default of `metrics_attribution_days` (contract §3): Iterable attributes opens and purchases to a campaign for days after it ends. */
export const DEFAULT_METRICS_ATTRIBUTION_DAYS = 15;

/** The endpoint: one CSV row of cumulative metrics per campaign asked for (`campaignId`, repeatable). */
export const CAMPAIGN_METRICS_PATH = '/api/campaigns/metrics';

/**
 * Longest request target (path and query) of a metrics request, in bytes: 8,000 keeps the request
 * line under 8 KB, the smallest default limit of common servers and proxies (nginx
 * `large_client_header_buffers` 8k, Apache `LimitRequestLine` 8190), with room for a base-URL path
 * prefix. About 380 campaign ids of 8 digits fit in one request.
 */
export const MAX_METRICS_REQUEST_TARGET_BYTES = 8000;

/** What the campaign selection needs to know of one campaign (from `GET /api/campaigns`). */
export interface CampaignForMetrics {
  id: number;
  /** Epoch ms of `updatedAt`; null when Iterable sent none (the campaign is then always read). */
  updatedAtMs: number | null;
  /** Epoch ms of `endedAt`; null while the campaign runs (or never ran, or is triggered). */
  endedAtMs: number | null;
}

/** The rule of {@link selectCampaignsForMetrics}. */
export interface MetricsSelection {
  /** The stored bookmark (the start of the run that last read the metrics), or null: read every campaign. */
  lastReadMs: number | null;
  /** Campaigns updated this long before `lastReadMs` count as changed (Iterable's lists are eventually consistent). */
  lookbackMs: number;
  /** `metrics_attribution_days` in ms: how long after its end a campaign's metrics still grow. */
  attributionMs: number;
}

/**
 * The campaigns whose metrics a run reads, in the given order, each once: without a previous read,
 * all; otherwise those updated since it (new or changed campaigns, never read before), those
 * without an end date (running, triggered, or not started yet), and those that ended less than
 * the attribution period before the previous read, whose metrics may have grown since. A campaign
 * that had ended more than the attribution period before the previous read was read then with its
 * final metrics, and is kept as it is.
 */
export function selectCampaignsForMetrics(campaigns: readonly CampaignForMetrics[], rule: MetricsSelection): number[] {
  const seen = new Set<number>();
  const selected: number[] = [];
  for (const c of campaigns) {
    if (seen.has(c.id)) continue;
    seen.add(c.id);
    if (rule.lastReadMs === null || isReadAgain(c, rule.lastReadMs, rule)) selected.push(c.id);
  }
  return selected;
}

function isReadAgain(c: CampaignForMetrics, lastReadMs: number, rule: MetricsSelection): boolean {
  if (c.updatedAtMs === null || c.updatedAtMs >= lastReadMs - rule.lookbackMs) return true;
  if (c.endedAtMs === null) return true;
  return c.endedAtMs >= lastReadMs - rule.attributionMs;
}

/**
 * Splits campaign ids into requests of `path?campaignId=1&campaignId=2…`, as many ids per request
 * as fit in `maxTargetBytes` (path and query), in order. An id that alone does not fit still gets
 * a request of its own.
 */
export function batchCampaignIds(ids: readonly number[], path: string, maxTargetBytes: number): number[][] {
  const batches: number[][] = [];
  let batch: number[] = [];
  let bytes = 0;
  for (const id of ids) {
    const param = `campaignId=${encodeURIComponent(String(id))}`.length;
    // `?` before the first parameter, `&` before the others.
    const added = 1 + param;
    if (batch.length > 0 && bytes + added > maxTargetBytes) {
      batches.push(batch);
      batch = [];
    }
    if (batch.length === 0) bytes = path.length;
    batch.push(id);
    bytes += added;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * A metric column's name: the CSV header lower-cased, each run of other characters than `a-z0-9`
 * one `_`, none at the ends (`Total Emails Sent` → `total_emails_sent`, `Purchases / M (Email)` →
 * `purchases_m_email`, `Total WebPush Holdout` → `total_webpush_holdout`).
 */
export function snakeCaseHeader(header: string): string {
  return header
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * A metric cell as a number: `57`, `16.0`, `-1.5e3`; empty (or blank) → null, since a metric
 * Iterable did not compute is not 0; anything else (`NaN`, `12%`, `n/a`) → undefined, not a number.
 */
export function parseMetricCell(text: string): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** A metric cell that is not a number: kept in the row as its text, and reported. */
export interface NonNumericCell {
  campaignId: number;
  column: string;
  text: string;
}

/** The rows of one metrics answer, and what did not fit. */
export interface MetricsRows {
  records: JsonRecord[];
  /** CSV rows that cannot be a row (no usable id, a cell count that differs from the header's), and unparsable text. */
  rejected: RejectedRecord[];
  /** Cells that are not numbers: each stays in its row as text (the destination keeps it in `_rescued`). */
  nonNumeric: NonNumericCell[];
}

/** Where a metrics answer came from, for rejected records. */
export interface MetricsSource {
  stream: string;
  /** e.g. `GET /api/campaigns/metrics (campaigns 1 to 380 of 912)`. */
  source: string;
  /** The campaign's `updatedAt` (ISO 8601), copied into its row as the replication key. */
  updatedAtById: ReadonlyMap<number, string>;
}

/**
 * Turns Iterable's metrics CSV (header `id,Average Order Value,…`, one row per campaign) into
 * rows: `id`, one number (or null) per header column named by {@link snakeCaseHeader}, and the
 * campaign's `updatedAt`. A header that repeats (Iterable's 2017 answers repeated every metric)
 * adds nothing when its cell equals the first one's, and becomes `name_2`, `name_3`… when it differs.
 */
export function metricsRows(text: string, from: MetricsSource): MetricsRows {
  const out: MetricsRows = { records: [], rejected: [], nonNumeric: [] };
  const reject = (raw: string, reason: string) => out.rejected.push({ stream: from.stream, raw, reason, source: from.source });
  const parsed = parseCsvRecords(text);
  const [header, ...rows] = parsed.records;
  if (parsed.error !== undefined) {
    const rest = text.split(/\r?\n/).slice(parsed.error.line - 1).join('\n');
    reject(rest, `not valid CSV from line ${parsed.error.line} on: ${parsed.error.reason}`);
  }
  if (header === undefined) return out;
  const idAt = header.cells.findIndex((h) => snakeCaseHeader(h) === 'id');
  if (idAt < 0) {
    for (const row of [header, ...rows]) reject(row.raw, 'the metrics CSV has no "id" column');
    return out;
  }
  const names = columnNames(header.cells, idAt);
  const blank = header.cells.map((h) => snakeCaseHeader(h) === '');
  for (const row of rows) {
    if (row.cells.length !== header.cells.length) {
      reject(row.raw, `row of ${row.cells.length} cells under a header of ${header.cells.length}`);
      continue;
    }
    const idText = row.cells[idAt]!.trim();
    const id = /^\d{1,15}$/.test(idText) ? Number(idText) : undefined;
    if (id === undefined) {
      reject(row.raw, `campaign id ${JSON.stringify(idText)} is not a whole number`);
      continue;
    }
    const record: JsonRecord = { id };
    const values = new Map<string, unknown>();
    const occurrences = new Map<string, number>();
    for (let j = 0; j < names.length; j++) {
      const name = names[j];
      const text = row.cells[j]!;
      if (name === undefined || (blank[j] === true && text.trim() === '')) continue;
      const parsedCell = parseMetricCell(text);
      const value = parsedCell === undefined ? text : parsedCell;
      const seen = occurrences.get(name) ?? 0;
      occurrences.set(name, seen + 1);
      if (seen > 0 && Object.is(values.get(name), value)) continue;
      const column = seen > 0 ? `${name}_${seen + 1}` : name;
      if (seen === 0) values.set(name, value);
      if (parsedCell === undefined) out.nonNumeric.push({ campaignId: id, column, text });
      record[column] = value;
    }
    const updatedAt = from.updatedAtById.get(id);
    if (updatedAt !== undefined) record.updatedAt = updatedAt;
    out.records.push(record);
  }
  return out;
}

/**
 * The column of each header cell (undefined: the id column). A header that snake-cases to nothing
 * (blank, as after the trailing comma of `id,`) is `column_N`, N its 1-based position, and holds
 * only cells that are not empty; a second header that snake-cases to `id` is `metric_id`, so it
 * cannot take the key's place.
 */
function columnNames(headers: readonly string[], idAt: number): Array<string | undefined> {
  return headers.map((h, j) => {
    if (j === idAt) return undefined;
    const name = snakeCaseHeader(h);
    if (name === '') return `column_${j + 1}`;
    return name === 'id' ? 'metric_id' : name;
  });
}
