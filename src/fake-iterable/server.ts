/**
 * A local, strict and quirky fake of Iterable's REST API (spec: shared/reference/iterable-api.md)
 * on a real HTTP server. Used by integration tests, the export benchmark and
 * `iterable-sync simulate`, so it imports nothing test-only.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeLines, Sleeper } from './body-writer.js';
import {
  CAMPAIGN_STATES,
  canonicalDataType,
  TEMPLATE_MEDIA,
  TEMPLATE_TYPES,
  type ExportRow,
  type FakeData,
} from './data-types.js';
import { campaignMetricsCsv } from './campaign-metrics.js';
import { generateFakeData } from './data.js';
import { exportRows } from './export-rows.js';
import {
  ExportJobs,
  JobRequestError,
  parseStartRequest,
  s3Error,
  SIGNED_PREFIX,
  type ExportJob,
  type ExportJobsOptions,
} from './export-jobs.js';
import { FaultQueue, type BodyFault, type Fault, type StatusFault } from './faults.js';
import { rateLimitMessage, SlidingWindowLimiter, ITERABLE_RATE_LIMITS, type RateLimitFamily } from './rate-limit.js';
import { parseRequestDateTime, utcDayStart } from './time-format.js';

export type { Fault, StatusFault, BodyFault, CutFault, StallFault, SlowFault, MalformedFault, LateFault } from './faults.js';
export * from './data.js';
export { CAMPAIGN_METRIC_COLUMNS, campaignMetricsCsv, fakeCampaignMetrics } from './campaign-metrics.js';
export { ExportJobs, SIGNED_PREFIX, type ExportJob, type ExportJobsOptions, type JobRule, type JobState } from './export-jobs.js';

export type KeyRole = 'server' | 'readonly';

export interface FakeIterableOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default generateFakeData({}). */
  data?: FakeData;
  /**
   * API keys and their role. Default `{ 'test-server-key': 'server', 'test-readonly-key': 'readonly' }`.
   * `'any'` accepts any non-empty key as server-side (used by simulate).
   */
  keys?: Record<string, KeyRole> | 'any';
  /** Status for a valid key calling an endpoint its type may not call. Default 401 (spec §1.4). */
  permissionDeniedStatus?: 401 | 403;
  /**
   * Enforce Iterable's rate limits (spec §2); `timeScale` divides each period (60 → export 4 per
   * second). Default false.
   */
  rateLimits?: false | { timeScale: number };
  /** Campaigns/templates without paging params: 'paged' (default) first 20 + nextPageUrl; 'legacy' everything. */
  pagination?: 'paged' | 'legacy';
  /** Keys per page of /api/metadata/{table}. Default 1000. */
  metadataPageSize?: number;
  /** Content-Type of data.json. Default 'application/x-json-stream'. */
  exportContentType?: string;
  /** Bytes per HTTP chunk of streamed bodies (chunks ignore line ends). Default 16384. */
  chunkBytes?: number;
  /** The current time, for range=Today etc. Default: the fake's clock (see `clockOffsetMs`). */
  now?: () => Date;
  /**
   * How far the fake's clock runs ahead of this machine's (negative: behind), in ms. It sets the
   * `Date` header of every answer, as Iterable's own clock does. Default 0.
   */
  clockOffsetMs?: number;
  /** Timing and sizes of the asynchronous export jobs (spec §3.13); see `ExportJobsOptions`. */
  exportJobs?: ExportJobsOptions;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** 0 until the response starts. */
  status: number;
  keyRole: KeyRole | null;
  /** Date.now() at arrival. */
  at: number;
  headers: IncomingHttpHeaders;
  /** A POST's JSON body as parsed (the export start request); absent otherwise or when not JSON. */
  body?: unknown;
}

export interface FakeIterable {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  port: number;
  data: FakeData;
  /** Every request in arrival order. */
  requests: RecordedRequest[];
  /** The organisation's export jobs: rules (`jobs.addRule`), `fail`, `cancel`, `requeue`, `start`, `all`. */
  jobs: ExportJobs;
  /** Queues a fault; faults are consumed FIFO per matching request. */
  inject(fault: Fault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const HTML_TYPE = 'text/html; charset=utf-8';
const XML_TYPE = 'application/xml';
/** Largest request body read (a StartExportRequest is tiny). */
const MAX_BODY_BYTES = 1024 * 1024;
/** Iterable's documented page-size cap for campaigns and templates (spec §3.1, §3.7). */
const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 20;
const DAY_MS = 86_400_000;
/**
 * Longest request target (path and query) the metrics route takes; longer gets 414, as nginx's
 * default 8 KB request-line buffer answers [I: Iterable's own limit is not documented].
 */
const MAX_METRICS_REQUEST_TARGET_BYTES = 8192;
const DEFAULT_KEYS: Record<string, KeyRole> = { 'test-server-key': 'server', 'test-readonly-key': 'readonly' };

function notFoundPage(method: string, path: string): string {
  return `<!DOCTYPE html>
<html lang="en">
    <head>
        <title>Action not found</title>
        <link rel="shortcut icon" href="data:image/png;base64,iVBORw0KGgo=">
    </head>
    <body>
        <h1>Action not found</h1>
        <p id="detail">Oh no- that url doesn't exist.</p>
        <p>For request '${method} ${path.replace(/[<>&'"]/g, '')}'</p>
    </body>
</html>
`;
}

function gatewayPage(status: number): string {
  const title = status === 502 ? '502 Bad Gateway' : status === 504 ? '504 Gateway Time-out' : `${status} Error`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
}

function envelope(msg: string, code: string, params: Record<string, unknown> | null): string {
  return JSON.stringify({ msg, code, params });
}

/** One request and its response, with the helpers every handler uses. */
class Exchange {
  bodyFault: BodyFault | undefined;
  /** The parsed JSON body of a POST; undefined when absent, `INVALID_BODY` when not JSON. */
  body: unknown;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly record: RecordedRequest,
    readonly query: URLSearchParams,
    private readonly startedAt: number,
    private readonly server: ServerContext,
  ) {}

  get path(): string {
    return this.record.path;
  }

  private head(status: number, headers: Record<string, string | number>): void {
    this.record.status = status;
    this.res.writeHead(status, {
      // Node would send its own clock's Date; this one is the fake's (with clockOffsetMs).
      Date: new Date(Date.now() + this.server.clockOffsetMs).toUTCString(),
      'Request-Time': Math.max(0, Math.round(performance.now() - this.startedAt)),
      Server: this.server.serverHeader,
      Vary: 'Origin',
      ...headers,
    });
  }

  /** A complete body; sent chunked and line by line when a body fault applies. */
  async send(status: number, contentType: string, body: string, headers: Record<string, string | number> = {}): Promise<void> {
    if (this.bodyFault !== undefined) {
      this.head(status, { 'Content-Type': contentType, ...headers });
      await this.writeLines(body.split('\n').slice(0, body.endsWith('\n') ? -1 : undefined), () => body.endsWith('\n'));
      return;
    }
    this.head(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
    this.res.end(body);
  }

  json(status: number, value: unknown, headers?: Record<string, string | number>): Promise<void> {
    return this.send(status, JSON_TYPE, JSON.stringify(value), headers);
  }

  /** 400 with Iterable's BadParams envelope. */
  badParams(msg: string, params: Record<string, unknown> | null = null): Promise<void> {
    return this.send(400, JSON_TYPE, envelope(msg, 'BadParams', params));
  }

  /** A chunked body of lines. */
  async lines(
    status: number,
    contentType: string,
    lines: Iterable<string>,
    hasFinalNewline: (count: number) => boolean,
    headers: Record<string, string | number> = {},
  ): Promise<void> {
    this.head(status, { 'Content-Type': contentType, ...headers });
    await this.writeLines(lines, hasFinalNewline);
  }

  private writeLines(lines: Iterable<string>, hasFinalNewline: (count: number) => boolean): Promise<void> {
    return writeLines(this.res, lines, {
      chunkBytes: this.server.chunkBytes,
      sleeper: this.server.sleeper,
      hasFinalNewline,
      ...(this.bodyFault !== undefined ? { fault: this.bodyFault } : {}),
    });
  }

  /** This server as the client reached it, e.g. `http://127.0.0.1:1234`. */
  get baseUrl(): string {
    return `http://${this.req.headers.host ?? this.server.hostPort}`;
  }

  /** An absolute URL to this endpoint with the same parameters and `page` replaced (or removed). */
  pageUrl(page: number): string {
    const params = new URLSearchParams(this.query);
    params.set('page', String(page));
    return `http://${this.req.headers.host ?? this.server.hostPort}${this.path}?${params.toString()}`;
  }
}

interface ServerContext {
  data: FakeData;
  options: Required<Pick<FakeIterableOptions, 'pagination' | 'metadataPageSize' | 'exportContentType' | 'now'>>;
  chunkBytes: number;
  sleeper: Sleeper;
  faults: FaultQueue;
  serverHeader: string;
  hostPort: string;
  clockOffsetMs: number;
  jobs: ExportJobs;
}

interface Route {
  /** Default GET. Another method on the path gets the 404 page, as Play answers. */
  method?: 'GET' | 'POST' | 'DELETE';
  /** Exact path, or a pattern whose groups are path parameters. */
  path: string | RegExp;
  /** The path with named parameters, which faults may target instead of one exact path. */
  template?: string;
  /** The export type a fault's `dataTypeName` is matched against. */
  dataTypeOf?(ex: Exchange, ctx: ServerContext, params: string[]): string | null;
  family: RateLimitFamily;
  /** Whether read-only keys may call it (spec §1.3). */
  isReadOnlyAllowed: boolean;
  handle(ex: Exchange, ctx: ServerContext, params: string[]): Promise<void>;
}

/** Values of a repeatable parameter: repeated and/or comma-separated, duplicates dropped. */
function multiParam(query: URLSearchParams, name: string): string[] {
  const values = query.getAll(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  return [...new Set(values)];
}

function matchEnum<T extends string>(value: string, allowed: readonly T[]): T | undefined {
  return allowed.find((a) => a.toLowerCase() === value.toLowerCase());
}

type SortSpec = { field: string; isDescending: boolean };

function parseSort(raw: string | null, allowed: readonly string[]): SortSpec | string {
  if (raw === null || raw.trim() === '') return { field: 'id', isDescending: false };
  // `+id` arrives as ` id` once the form decoding turned `+` into a space.
  let text = raw.trim();
  let isDescending = false;
  if (text.startsWith('-')) {
    isDescending = true;
    text = text.slice(1);
  } else if (text.startsWith('+')) {
    text = text.slice(1);
  }
  if (!allowed.includes(text)) return `Invalid sort field: ${raw}. Valid fields: ${allowed.join(', ')}`;
  return { field: text, isDescending };
}

function sortBy<T>(items: T[], value: (item: T) => unknown, tieBreak: (item: T) => number, isDescending: boolean): T[] {
  const sign = isDescending ? -1 : 1;
  return items.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    let order = 0;
    if (va === undefined && vb !== undefined) order = 1; // missing values last in either direction
    else if (vb === undefined && va !== undefined) order = -1;
    else if (typeof va === 'string' && typeof vb === 'string') order = sign * va.localeCompare(vb);
    else if (typeof va === 'number' && typeof vb === 'number') order = sign * (va - vb);
    return order !== 0 ? order : sign * (tieBreak(a) - tieBreak(b));
  });
}

function parsePositiveInt(raw: string): number | undefined {
  return /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

/** Paged or legacy list response for campaigns and templates (spec §3.1, §3.7). */
async function sendPagedList(ex: Exchange, ctx: ServerContext, key: string, totalKey: string, items: unknown[]): Promise<void> {
  const rawPage = ex.query.get('page');
  const rawPageSize = ex.query.get('pageSize');
  if (rawPage === null && rawPageSize === null && ctx.options.pagination === 'legacy') {
    await ex.json(200, { [key]: items });
    return;
  }
  const page = rawPage === null ? 1 : parsePositiveInt(rawPage);
  if (page === undefined || page < 1) return ex.badParams(`Invalid page: ${rawPage}. page starts at 1`);
  const pageSize = rawPageSize === null ? DEFAULT_PAGE_SIZE : parsePositiveInt(rawPageSize);
  if (pageSize === undefined || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    return ex.badParams(`Invalid pageSize: ${rawPageSize}. pageSize must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  const body: Record<string, unknown> = {
    [key]: items.slice((page - 1) * pageSize, page * pageSize),
    [totalKey]: items.length,
  };
  if (page * pageSize < items.length) body.nextPageUrl = ex.pageUrl(page + 1);
  if (page > 1) body.previousPageUrl = ex.pageUrl(page - 1);
  await ex.json(200, body);
}

async function handleCampaigns(ex: Exchange, ctx: ServerContext): Promise<void> {
  const states: string[] = [];
  for (const raw of multiParam(ex.query, 'campaignState')) {
    const state = matchEnum(raw, CAMPAIGN_STATES);
    if (state === undefined) return ex.badParams(`Invalid campaignState: ${raw}. Valid values: ${CAMPAIGN_STATES.join(', ')}`);
    states.push(state);
  }
  const sort = parseSort(ex.query.get('sort'), ['id', 'name', 'createdAt', 'updatedAt', 'startAt']);
  if (typeof sort === 'string') return ex.badParams(sort);
  const campaigns = ctx.data.campaigns.filter((c) => states.length === 0 || states.includes(c.campaignState));
  sortBy(campaigns, (c) => (c as unknown as Record<string, unknown>)[sort.field], (c) => c.id, sort.isDescending);
  await sendPagedList(ex, ctx, 'campaigns', 'totalCampaignsCount', campaigns);
}

async function handleTemplates(ex: Exchange, ctx: ServerContext): Promise<void> {
  const rawType = ex.query.get('templateType');
  const templateType = rawType === null ? undefined : matchEnum(rawType, TEMPLATE_TYPES);
  if (rawType !== null && templateType === undefined) {
    return ex.badParams(`Invalid templateType: ${rawType}. Valid values: ${TEMPLATE_TYPES.join(', ')}`);
  }
  const rawMedium = ex.query.get('messageMedium');
  const medium = rawMedium === null ? undefined : matchEnum(rawMedium, TEMPLATE_MEDIA);
  if (rawMedium !== null && medium === undefined) {
    return ex.badParams(`Invalid messageMedium: ${rawMedium}. Valid values: ${TEMPLATE_MEDIA.join(', ')}`);
  }
  const bounds: number[] = [];
  for (const name of ['startDateTime', 'endDateTime']) {
    const raw = ex.query.get(name);
    const ms = raw === null ? (name === 'startDateTime' ? -Infinity : Infinity) : parseRequestDateTime(raw);
    if (ms === undefined) return ex.badParams(`Invalid ${name}: ${raw}. Expected yyyy-MM-dd HH:mm:ss ZZ`);
    bounds.push(ms);
  }
  const [startMs = -Infinity, endMs = Infinity] = bounds;
  const sort = parseSort(ex.query.get('sort'), ['id', 'name', 'createdAt', 'updatedAt']);
  if (typeof sort === 'string') return ex.badParams(sort);
  const field = sort.field === 'id' ? 'templateId' : sort.field;
  const templates = ctx.data.templates
    .filter((t) => (templateType === undefined || t.templateType === templateType) && (medium === undefined || t.messageMedium === medium))
    .map((t) => t.template)
    // Date filters apply to createdAt: [start, end) (spec §3.7).
    .filter((t) => t.createdAt >= startMs && t.createdAt < endMs);
  sortBy(templates, (t) => (t as unknown as Record<string, unknown>)[field], (t) => t.templateId, sort.isDescending);
  await sendPagedList(ex, ctx, 'templates', 'totalTemplatesCount', templates);
}

async function handleGetUsers(ex: Exchange, ctx: ServerContext): Promise<void> {
  const raw = ex.query.get('listId');
  if (raw === null || raw.trim() === '') return ex.badParams('Missing required parameter: listId');
  const listId = /^-?\d{1,18}$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
  const list = listId === undefined ? undefined : ctx.data.lists.find((l) => l.id === listId);
  if (list === undefined) {
    return ex.badParams('Invalid email list id', { projectId: String(ctx.data.projectId), listId: raw });
  }
  const members = ctx.data.listMembers.get(list.id) ?? [];
  const preferUserId = ex.query.get('preferUserId')?.toLowerCase() === 'true';
  const lines = preferUserId ? members.map((email) => ctx.data.userIds.get(email) ?? email) : members;
  // text/plain, one identifier per line, `\n` after every line (spec §3.4).
  await ex.lines(200, TEXT_TYPE, lines, () => true);
}

function findTable(ctx: ServerContext, name: string) {
  return ctx.data.metadata.find((t) => t.name.toLowerCase() === name.toLowerCase());
}

function encodeMarker(table: string, offset: number): string {
  return Buffer.from(`v1|${table.toLowerCase()}|${offset}`, 'utf8').toString('base64url');
}

function decodeMarker(marker: string, table: string): number | undefined {
  const parts = Buffer.from(marker, 'base64url').toString('utf8').split('|');
  if (parts.length !== 3 || parts[0] !== 'v1' || parts[1] !== table.toLowerCase()) return undefined;
  const offset = Number(parts[2]);
  return Number.isInteger(offset) && offset > 0 ? offset : undefined;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function handleMetadataKeys(ex: Exchange, ctx: ServerContext, [rawTable = '']: string[]): Promise<void> {
  const tableName = decodeSegment(rawTable);
  if (tableName === undefined) return ex.badParams(`Invalid table name: ${rawTable}`);
  const table = findTable(ctx, tableName);
  // A table that does not exist lists no keys; it is not a 404 (spec §3.6).
  if (table === undefined) return ex.json(200, { results: [] });
  const marker = ex.query.get('nextMarker');
  const offset = marker === null || marker === '' ? 0 : decodeMarker(marker, table.name);
  if (offset === undefined) return ex.badParams(`Invalid nextMarker: ${marker}`);
  const pageSize = ctx.options.metadataPageSize;
  const results = table.keys.slice(offset, offset + pageSize).map((k) => ({
    table: table.name,
    key: k.key,
    size: Buffer.byteLength(JSON.stringify(k.value)),
    lastModified: k.lastModified,
  }));
  const body: Record<string, unknown> = { results };
  if (offset + pageSize < table.keys.length) body.nextMarker = encodeMarker(table.name, offset + pageSize);
  await ex.json(200, body);
}

async function handleMetadataValue(ex: Exchange, ctx: ServerContext, [rawTable = '', rawKey = '']: string[]): Promise<void> {
  const tableName = decodeSegment(rawTable);
  const key = decodeSegment(rawKey);
  if (tableName === undefined || key === undefined) return ex.badParams(`Invalid metadata path: ${ex.path}`);
  const table = findTable(ctx, tableName);
  const entry = table?.keys.find((k) => k.key === key);
  if (table === undefined || entry === undefined) {
    return ex.send(404, JSON_TYPE, envelope(`No metadata found in table ${tableName} with key ${key}`, 'NotFound', null));
  }
  await ex.json(200, {
    table: table.name,
    key: entry.key,
    size: Buffer.byteLength(JSON.stringify(entry.value)),
    lastModified: entry.lastModified,
    value: entry.value,
  });
}

/** `YYYY-MM-DD`, or a date-time (spec: "YYYY-MM-DD and other ISO 8601 formats"). */
function parseMetricsDate(raw: string): number | undefined {
  const text = raw.trim();
  return /^\d{4}-\d{2}-\d{2}$/.test(text) ? parseRequestDateTime(`${text} 00:00:00`) : parseRequestDateTime(text);
}

async function handleCampaignMetrics(ex: Exchange, ctx: ServerContext): Promise<void> {
  if ((ex.req.url ?? '').length > MAX_METRICS_REQUEST_TARGET_BYTES) {
    const title = '414 Request-URI Too Large';
    return ex.send(414, HTML_TYPE, `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`);
  }
  // `campaignId` is a repeated parameter (OpenAPI collectionFormat multi): every value counts.
  const raws = ex.query.getAll('campaignId').map((v) => v.trim());
  if (raws.length === 0 || raws.every((v) => v === '')) return ex.badParams('Missing required parameter: campaignId');
  const ids: number[] = [];
  for (const raw of raws) {
    if (!/^\d{1,18}$/.test(raw)) return ex.badParams(`Invalid campaignId: ${raw}`);
    ids.push(Number(raw));
  }
  for (const name of ['startDateTime', 'endDateTime']) {
    const raw = ex.query.get(name);
    // Both are optional and may be empty (allowEmptyValue); the fake's metrics are cumulative either way.
    if (raw !== null && raw.trim() !== '' && parseMetricsDate(raw) === undefined) {
      return ex.badParams(`Invalid ${name}: ${raw}. Accepted formats include YYYY-MM-DD and other ISO 8601 formats`);
    }
  }
  await ex.send(200, TEXT_TYPE, campaignMetricsCsv(ctx.data, ids));
}

function* jsonLines(rows: Iterable<ExportRow>): Generator<string> {
  for (const row of rows) yield JSON.stringify(row);
}

async function handleExport(ex: Exchange, ctx: ServerContext): Promise<void> {
  const name = ex.query.get('dataTypeName');
  if (name === null || name.trim() === '') return ex.badParams('Missing required parameter: dataTypeName');
  const dataType = canonicalDataType(name.trim());
  if (dataType === undefined) return ex.badParams(`Invalid dataTypeName: ${name}`);

  let startMs: number;
  let endMs: number;
  const rawStart = ex.query.get('startDateTime');
  const rawEnd = ex.query.get('endDateTime');
  if (rawStart !== null || rawEnd !== null) {
    // Explicit dates win over `range`; a lone one is refused (spec §3.9, an [I] choice).
    if (rawStart === null || rawEnd === null) {
      return ex.badParams('startDateTime and endDateTime must be given together');
    }
    const start = parseRequestDateTime(rawStart);
    if (start === undefined) return ex.badParams(`Invalid startDateTime: ${rawStart}. Expected yyyy-MM-dd HH:mm:ss ZZ`);
    const end = parseRequestDateTime(rawEnd);
    if (end === undefined) return ex.badParams(`Invalid endDateTime: ${rawEnd}. Expected yyyy-MM-dd HH:mm:ss ZZ`);
    [startMs, endMs] = [start, end];
  } else {
    const rawRange = ex.query.get('range') ?? 'Today';
    const range = matchEnum(rawRange, ['Today', 'Yesterday', 'BeforeToday', 'All'] as const);
    const today = utcDayStart(ctx.options.now().getTime());
    switch (range) {
      case 'Today':
        [startMs, endMs] = [today, today + DAY_MS];
        break;
      case 'Yesterday':
        [startMs, endMs] = [today - DAY_MS, today];
        break;
      case 'BeforeToday':
        [startMs, endMs] = [-Infinity, today];
        break;
      case 'All':
        [startMs, endMs] = [-Infinity, Infinity];
        break;
      default:
        return ex.badParams(`Invalid range: ${rawRange}. Valid values: Today, Yesterday, BeforeToday, All`);
    }
  }
  const rawCampaignId = ex.query.get('campaignId');
  const campaignId = rawCampaignId === null ? undefined : parsePositiveInt(rawCampaignId);
  if (rawCampaignId !== null && campaignId === undefined) return ex.badParams(`Invalid campaignId: ${rawCampaignId}`);

  const rows = exportRows(ctx.data, {
    dataType,
    startMs,
    endMs,
    ...(campaignId !== undefined ? { campaignId } : {}),
    onlyFields: multiParam(ex.query, 'onlyFields'),
    omitFields: multiParam(ex.query, 'omitFields'),
    extraRows: ctx.faults.lateRows(ex.path, dataType),
  });
  // The last line ends without `\n` when the row count is odd: clients must cope (spec §3.9).
  await ex.lines(200, ctx.options.exportContentType, jsonLines(rows), (count) => count % 2 === 0);
}

const INVALID_BODY = Symbol('invalid JSON body');

function jobIdOf(raw: string): number | undefined {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

/** The job a `/api/export/{jobId}...` path names, or a 400 already sent. */
async function jobOf(ex: Exchange, ctx: ServerContext, rawId: string): Promise<ExportJob | undefined> {
  const id = jobIdOf(rawId);
  const job = id === undefined ? undefined : ctx.jobs.get(id);
  if (id === undefined) await ex.badParams(`Invalid jobId: ${rawId}`);
  else if (job === undefined) await ex.badParams(`Export job ${id} not found`, { jobId: String(id) });
  return job;
}

async function handleExportStart(ex: Exchange, ctx: ServerContext): Promise<void> {
  if (ex.body === INVALID_BODY || ex.body === undefined) {
    return ex.send(400, JSON_TYPE, envelope('Invalid JSON body', 'BadJsonBody', null));
  }
  try {
    const job = ctx.jobs.start(parseStartRequest(ex.body));
    await ex.json(200, { jobId: job.id });
  } catch (error) {
    if (!(error instanceof JobRequestError)) throw error;
    await ex.send(400, JSON_TYPE, envelope(error.message, error.code, null));
  }
}

async function handleExportFiles(ex: Exchange, ctx: ServerContext, [rawId = '']: string[]): Promise<void> {
  const job = await jobOf(ex, ctx, rawId);
  if (job === undefined) return;
  const startAfter = ex.query.get('startAfter');
  await ex.json(200, ctx.jobs.filesPage(job, startAfter === null || startAfter === '' ? null : startAfter, ex.baseUrl));
}

async function handleExportJobList(ex: Exchange, ctx: ServerContext): Promise<void> {
  const raw = ex.query.get('jobState');
  const state = raw === null || raw === '' ? undefined : ExportJobs.parseStateFilter(raw);
  if (raw !== null && raw !== '' && state === undefined) {
    return ex.badParams(`Invalid jobState: ${raw}. Valid values: enqueued, queued, running, completed, failed, cancelling, cancelled`);
  }
  const jobs = ctx.jobs.all().filter((j) => state === undefined || j.state === state).reverse();
  await ex.json(200, { jobs: jobs.map((j) => ctx.jobs.model(j)) });
}

async function handleExportCancel(ex: Exchange, ctx: ServerContext, [rawId = '']: string[]): Promise<void> {
  const job = await jobOf(ex, ctx, rawId);
  if (job === undefined) return;
  if (!ctx.jobs.cancel(job.id)) return ex.badParams(`Export job ${job.id} cannot be cancelled: it is ${job.state}`, { jobId: String(job.id) });
  await ex.send(200, JSON_TYPE, envelope('', 'Success', null));
}

const jobDataType = (_ex: Exchange, ctx: ServerContext, [rawId = '']: string[]): string | null => {
  const id = jobIdOf(rawId);
  return id === undefined ? null : (ctx.jobs.get(id)?.request.dataType ?? null);
};

const ROUTES: Route[] = [
  { path: '/api/campaigns', family: 'campaigns', isReadOnlyAllowed: true, handle: handleCampaigns },
  { path: '/api/campaigns/metrics', family: 'campaignMetrics', isReadOnlyAllowed: true, handle: handleCampaignMetrics },
  { path: '/api/channels', family: 'channels', isReadOnlyAllowed: true, handle: (ex, ctx) => ex.json(200, { channels: ctx.data.channels }) },
  { path: '/api/lists', family: 'lists', isReadOnlyAllowed: true, handle: (ex, ctx) => ex.json(200, { lists: ctx.data.lists }) },
  { path: '/api/lists/getUsers', family: 'listUsers', isReadOnlyAllowed: false, handle: handleGetUsers },
  {
    path: '/api/messageTypes', family: 'messageTypes', isReadOnlyAllowed: true,
    handle: (ex, ctx) => ex.json(200, { messageTypes: ctx.data.messageTypes }),
  },
  {
    path: '/api/metadata', family: 'metadata', isReadOnlyAllowed: true,
    handle: (ex, ctx) => ex.json(200, { results: ctx.data.metadata.map((t) => ({ name: t.name })) }),
  },
  { path: /^\/api\/metadata\/([^/]+)$/, family: 'metadata', isReadOnlyAllowed: true, handle: handleMetadataKeys },
  { path: /^\/api\/metadata\/([^/]+)\/([^/]+)$/, family: 'metadata', isReadOnlyAllowed: true, handle: handleMetadataValue },
  { path: '/api/templates', family: 'templates', isReadOnlyAllowed: true, handle: handleTemplates },
  {
    path: '/api/users/getFields', family: 'userFields', isReadOnlyAllowed: true,
    handle: (ex, ctx) => ex.json(200, { fields: ctx.data.userFields }),
  },
  { path: '/api/export/data.json', family: 'export', isReadOnlyAllowed: false, handle: handleExport },
  // GDPR lists (3 requests a second each, paced here with getFields [I]). Each works only in the
  // project types that forget users by that identifier, and answers an error in the others.
  { path: '/api/users/forgotten', family: 'userFields', isReadOnlyAllowed: false, handle: (ex, ctx) => handleForgotten(ex, ctx, 'email') },
  { path: '/api/users/forgottenUserIds', family: 'userFields', isReadOnlyAllowed: false, handle: (ex, ctx) => handleForgotten(ex, ctx, 'userId') },
  {
    method: 'POST', path: '/api/export/start', family: 'exportStart', isReadOnlyAllowed: false, handle: handleExportStart,
    dataTypeOf: (ex) => (typeof ex.body === 'object' && ex.body !== null ? String((ex.body as Record<string, unknown>).dataTypeName ?? '') : null),
  },
  { path: '/api/export/jobs', family: 'exportJobs', isReadOnlyAllowed: false, handle: handleExportJobList },
  {
    path: /^\/api\/export\/([^/]+)\/files$/, template: '/api/export/{jobId}/files', family: 'exportFiles', isReadOnlyAllowed: false,
    handle: handleExportFiles, dataTypeOf: jobDataType,
  },
  {
    method: 'DELETE', path: /^\/api\/export\/([^/]+)$/, template: '/api/export/{jobId}', family: 'exportCancel', isReadOnlyAllowed: false,
    handle: handleExportCancel, dataTypeOf: jobDataType,
  },
];

/**
 * `GET /api/users/forgotten` (hashed emails: email-based and hybrid projects) and
 * `/api/users/forgottenUserIds` (hashed userIds: userID-based and hybrid projects); the other
 * project type gets an error [D SWAG: "For userID-based projects, it returns an error"; the
 * status and body are not documented: 400 BadParams, SWAG's only listed error besides 401, [I]].
 */
function handleForgotten(ex: Exchange, ctx: ServerContext, by: 'email' | 'userId'): Promise<void> {
  const projectType = ctx.data.projectType ?? 'email';
  if (by === 'email' && projectType === 'userId') {
    return ex.badParams('This endpoint is not available for userID-based projects; use /api/users/forgottenUserIds');
  }
  if (by === 'userId' && projectType === 'email') {
    return ex.badParams('This endpoint is not available for email-based projects; use /api/users/forgotten');
  }
  return by === 'email' ? ex.json(200, { hashedEmails: [] }) : ex.json(200, { hashedUserIds: [] });
}

function findRoute(method: string, path: string): { route: Route; params: string[] } | undefined {
  for (const route of ROUTES) {
    if ((route.method ?? 'GET') !== method) continue;
    if (typeof route.path === 'string') {
      if (route.path === path) return { route, params: [] };
    } else {
      const m = route.path.exec(path);
      if (m) return { route, params: m.slice(1) };
    }
  }
  return undefined;
}

/** The key from `Api-Key` / `Api_Key` in any case (Node lowercases names), else legacy `?api_key=` (spec §1.2). */
function apiKeyOf(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  for (const name of ['api-key', 'api_key']) {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined && first.trim() !== '') return first.trim();
  }
  const legacy = query.get('api_key');
  return legacy !== null && legacy.trim() !== '' ? legacy.trim() : undefined;
}

function clientIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
}

/** Iterable's body for an injected status (spec §1.4), unless the fault brings its own. */
function statusFaultBody(fault: StatusFault, ex: Exchange, ctx: ServerContext, family: RateLimitFamily): { type: string; body: string } {
  if (fault.body !== undefined) {
    let isJson = true;
    try {
      JSON.parse(fault.body);
    } catch {
      isJson = false;
    }
    return { type: isJson ? JSON_TYPE : fault.body.trimStart().startsWith('<') ? HTML_TYPE : TEXT_TYPE, body: fault.body };
  }
  switch (fault.status) {
    case 429:
      return {
        type: JSON_TYPE,
        body: JSON.stringify({ msg: rateLimitMessage(ex.path, ctx.data.projectId, ITERABLE_RATE_LIMITS[family]), code: 'RateLimitExceeded', params: {} }),
      };
    case 500:
      return {
        type: JSON_TYPE,
        body: envelope('An error occurred. Please try again later. If problem persists, please contact your CSM', 'GenericError', null),
      };
    case 503:
      return { type: JSON_TYPE, body: envelope('Request timeout. Try again later.', 'GenericError', null) };
    case 502:
    case 504:
      return { type: HTML_TYPE, body: gatewayPage(fault.status) };
    case 400:
      return { type: JSON_TYPE, body: envelope('Bad request', 'BadParams', null) };
    case 401:
      return { type: JSON_TYPE, body: envelope('Invalid API key', 'BadApiKey', { ip: clientIp(ex.req), endpoint: ex.path }) };
    case 403:
      return { type: JSON_TYPE, body: envelope('Forbidden', 'Forbidden', { endpoint: ex.path }) };
    case 404:
      return { type: HTML_TYPE, body: notFoundPage(ex.req.method ?? 'GET', ex.path) };
    default:
      return { type: JSON_TYPE, body: envelope('An error occurred. Please try again later.', 'GenericError', null) };
  }
}

/** The request's JSON body; `INVALID_BODY` when it is not JSON or too large, undefined when empty. */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > MAX_BODY_BYTES) return INVALID_BODY;
    parts.push(part);
  }
  const text = Buffer.concat(parts).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return INVALID_BODY;
  }
}

/**
 * A signed file URL, served like S3 (spec §3.13): no Iterable key is needed, and one sent anyway
 * is refused, so a test proves the client never leaks it there. Expired URLs get S3's 403.
 */
async function handleSignedDownload(ex: Exchange, ctx: ServerContext): Promise<void> {
  const s3Headers = { Server: 'AmazonS3', 'x-amz-request-id': Math.random().toString(16).slice(2, 18).toUpperCase() };
  if (apiKeyOf(ex.req.headers, new URLSearchParams()) !== undefined) {
    return ex.send(400, XML_TYPE, s3Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      { ArgumentName: 'Api-Key' },
    ), s3Headers);
  }
  const check = ctx.jobs.checkDownload(ex.path, ex.query);
  if (check.kind === 'badSignature') {
    return ex.send(403, XML_TYPE, s3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'), s3Headers);
  }
  if (check.kind === 'noSuchKey') return ex.send(404, XML_TYPE, s3Error('NoSuchKey', 'The specified key does not exist.'), s3Headers);
  if (check.kind === 'expired') {
    return ex.send(403, XML_TYPE, s3Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': String(check.expirySeconds),
      Expires: new Date(check.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ServerTime: new Date(ctx.jobs.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    }), s3Headers);
  }
  const { job, file } = check;
  const fault = ctx.faults.take(ex.path, job.request.dataType, '/signed/exports/{jobId}/{file}');
  if (fault?.kind === 'status') {
    return ex.send(fault.status, XML_TYPE, fault.body ?? s3Error('InternalError', 'We encountered an internal error. Please try again.'), s3Headers);
  }
  ex.bodyFault = fault;
  // S3 knows the object's length; a `malformed` fault changes it, so that one goes chunked.
  const length: Record<string, number> = fault?.kind === 'malformed' ? {} : { 'Content-Length': file.bytes };
  await ex.lines(200, 'binary/octet-stream', ctx.jobs.fileLines(job, file), (count) => count % 2 === 0, { ...s3Headers, ...length });
}

/** Starts the fake on `host:port` and resolves once it listens. */
export async function startFakeIterable(options: FakeIterableOptions = {}): Promise<FakeIterable> {
  const host = options.host ?? '127.0.0.1';
  const data = options.data ?? generateFakeData({});
  const keys = options.keys ?? DEFAULT_KEYS;
  const limiter = options.rateLimits ? new SlidingWindowLimiter(options.rateLimits.timeScale) : undefined;
  const permissionDeniedStatus = options.permissionDeniedStatus ?? 401;
  const clockOffsetMs = options.clockOffsetMs ?? 0;
  const requests: RecordedRequest[] = [];
  const ctx: ServerContext = {
    data,
    options: {
      pagination: options.pagination ?? 'paged',
      metadataPageSize: Math.max(1, options.metadataPageSize ?? 1000),
      exportContentType: options.exportContentType ?? 'application/x-json-stream',
      now: options.now ?? (() => new Date(Date.now() + clockOffsetMs)),
    },
    chunkBytes: Math.max(1, options.chunkBytes ?? 16384),
    sleeper: new Sleeper(),
    faults: new FaultQueue(),
    serverHeader: `iterable-ingress ${Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0')}`,
    hostPort: host,
    clockOffsetMs,
    jobs: new ExportJobs(data, {
      ...options.exportJobs,
      clock: options.exportJobs?.clock ?? (() => Date.now() + clockOffsetMs),
      timeScale: options.exportJobs?.timeScale ?? (options.rateLimits ? options.rateLimits.timeScale : 1),
    }),
  };

  const roleOf = (key: string | undefined): KeyRole | null => {
    if (key === undefined) return null;
    if (keys === 'any') return 'server';
    return Object.hasOwn(keys, key) ? (keys[key] ?? null) : null;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const startedAt = performance.now();
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const path = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? '' : rawUrl.slice(queryAt + 1));
    const keyRole = roleOf(apiKeyOf(req.headers, query));
    const record: RecordedRequest = { method: req.method ?? 'GET', path, query, status: 0, keyRole, at: Date.now(), headers: req.headers };
    requests.push(record);
    const ex = new Exchange(req, res, record, query, startedAt, ctx);
    if (req.method === 'POST') {
      ex.body = await readJsonBody(req);
      if (ex.body !== INVALID_BODY && ex.body !== undefined) record.body = ex.body;
    }

    if (path.startsWith(SIGNED_PREFIX) && req.method === 'GET') return handleSignedDownload(ex, ctx);
    // Unknown routes are refused by the router before any key check, as Play does (spec §1.4).
    const match = findRoute(req.method ?? 'GET', path);
    if (match === undefined) return ex.send(404, HTML_TYPE, notFoundPage(req.method ?? 'GET', path));
    const { route, params } = match;
    if (keyRole === null) {
      return ex.send(401, JSON_TYPE, envelope('Invalid API key', 'BadApiKey', { ip: clientIp(req), endpoint: path }));
    }
    if (keyRole === 'readonly' && !route.isReadOnlyAllowed) {
      const code = permissionDeniedStatus === 403 ? 'Forbidden' : 'Unauthorized';
      return ex.send(
        permissionDeniedStatus,
        JSON_TYPE,
        envelope(`API key type does not have access to endpoint ${path}`, code, { ip: clientIp(req), endpoint: path }),
      );
    }
    // Iterable counts every authenticated request against the limit, injected failures included.
    if (limiter !== undefined) {
      const decision = limiter.tryAcquire(route.family, Date.now());
      if (!decision.isAllowed) {
        return ex.json(429, { msg: rateLimitMessage(path, data.projectId, decision.limit), code: 'RateLimitExceeded', params: {} });
      }
    }
    const fault = ctx.faults.take(path, route.dataTypeOf ? route.dataTypeOf(ex, ctx, params) : query.get('dataTypeName'), route.template);
    if (fault?.kind === 'status') {
      const { type, body } = statusFaultBody(fault, ex, ctx, route.family);
      const headers: Record<string, number> = fault.retryAfterSeconds !== undefined ? { 'Retry-After': fault.retryAfterSeconds } : {};
      return ex.send(fault.status, type, body, headers);
    }
    ex.bodyFault = fault;
    await route.handle(ex, ctx, params);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'Content-Type': JSON_TYPE, Date: new Date(Date.now() + clockOffsetMs).toUTCString() });
      res.end(envelope(`Fake Iterable failed: ${String(error)}`, 'GenericError', null));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  ctx.hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${ctx.hostPort}`,
    port,
    data,
    requests,
    jobs: ctx.jobs,
    inject: (fault) => ctx.faults.inject(fault),
    clearFaults: () => ctx.faults.clear(),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        ctx.sleeper.wakeAll();
      });
      return closing;
    },
  };
}
