/**
 * Iterable's asynchronous export jobs (spec §3.13): `POST /api/export/start`, the status-and-files
 * call `GET /api/export/{jobId}/files`, `GET /api/export/jobs`, `DELETE /api/export/{jobId}`, and
 * the signed file downloads (an S3 stand-in on `/signed/...` of the same server).
 *
 * The jobs live on the fake's clock. Nothing runs on a timer: every call first replays what has
 * happened since the last one (`advance`), so a test can drive a manual clock and see exact states.
 * A running job works through its planned files at `bytesPerSecond` after `startupMs`; a file is
 * listed once the work reaches its end. At most `maxRunning` jobs run at once (one organisation),
 * the rest wait enqueued in start order.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { canonicalDataType, type ExportDataType, type FakeData } from './data-types.js';
import { exportRows, type ExportQuery } from './export-rows.js';
import { parseRequestDateTime } from './time-format.js';

/** Wire values of `jobState` (lower case, spec §3.13). */
export type JobState = 'enqueued' | 'running' | 'completed' | 'failed' | 'cancelling' | 'cancelled';
const JOB_STATES: readonly JobState[] = ['enqueued', 'running', 'completed', 'failed', 'cancelling', 'cancelled'];
const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

/** Timing and sizes of the jobs. Durations are Iterable's (real) time, divided by `timeScale` (but `urlExpiryMs`). */
export interface ExportJobsOptions {
  /** Divides every duration below (60: a minute lasts one second). Default: `rateLimits.timeScale`, else 1. */
  timeScale?: number;
  /** The jobs' clock in epoch ms. Default: the fake's clock (`Date.now() + clockOffsetMs`). */
  clock?: () => number;
  /** Jobs running at once per organisation. Default 4. */
  maxRunning?: number;
  /** From start to the earliest moment a job may run. Default 2000 ms. */
  queueDelayMs?: number;
  /** Work a running job does before its first byte. Default 10000 ms. */
  startupMs?: number;
  /** Export speed of a running job. Default 5 MB/s. */
  bytesPerSecond?: number;
  /** Largest file (real: 10 MB). A file holds whole lines; a single longer line gets a file alone. Default 10 MB. */
  fileBytes?: number;
  /** Export size cap (real: 100 GB): rows beyond it are dropped and `exportTruncated` is true. */
  maxExportBytes?: number;
  /**
   * Life of a signed URL (real: 30 min). Default 1800000 ms. NOT divided by `timeScale`: it bounds
   * the client's own work (downloads, commits), which runs at this machine's speed at any scale.
   */
  urlExpiryMs?: number;
  /** Files per page of `/files`. Default 100 [I]. */
  filesPageSize?: number;
  /** How long a cancelled running job stays `cancelling` (holding its slot). Default 2000 ms. */
  cancelDelayMs?: number;
}

/**
 * What happens to the next matching started job(s): `fail` (state failed), `cancel` (Iterable
 * cancels it: cancelling, then cancelled), `requeue` (drops back to enqueued for `ms`, keeping its
 * progress) once `afterFiles` of its files are listed; `hold` keeps it enqueued `ms` longer.
 */
export interface JobRule {
  kind: 'fail' | 'cancel' | 'requeue' | 'hold';
  /** Only jobs of this type (case-insensitive). */
  dataTypeName?: string;
  /** Files listed before the event (fail/cancel/requeue). Default 0. */
  afterFiles?: number;
  /** requeue: time spent enqueued again; hold: extra time enqueued. Iterable time, scaled. Default 0. */
  ms?: number;
  /** Jobs it applies to. Default 1. */
  times?: number;
}

/** A validated `StartExportRequest`. */
export interface JobRequest {
  dataType: ExportDataType;
  startMs: number;
  endMs: number;
  onlyFields: string[];
  omitFields: string[];
  campaignId?: number;
}

interface PlannedFile {
  /** Index of the first row in the export's order. */
  firstRow: number;
  lines: number;
  bytes: number;
  /** Work (scaled ms since the run began) at which it is listed. */
  readyAtWork: number;
  /** Set once listed. */
  name?: string;
}

export interface ExportJob {
  id: number;
  request: JobRequest;
  state: JobState;
  /** Clock ms of the start call. */
  createdAt: number;
  /** Clock ms before which it may not run. */
  eligibleAt: number;
  /** Clock ms when it last began running. */
  runningSince?: number;
  /** Scaled work done before `runningSince`. */
  workBefore: number;
  endTime?: number;
  cancelAt?: number;
  files: PlannedFile[];
  listed: number;
  totalWork: number;
  isTruncated: boolean;
  rule?: { kind: 'fail' | 'cancel' | 'requeue'; atWork: number; ms: number };
}

interface QueuedRule {
  rule: JobRule;
  remaining: number;
}

interface SignedUrl {
  jobId: number;
  file: string;
  issuedAt: number;
  expiresAt: number;
}

export type DownloadCheck =
  | { kind: 'ok'; job: ExportJob; file: PlannedFile }
  | { kind: 'expired'; expiresAt: number; expirySeconds: number }
  | { kind: 'badSignature' }
  | { kind: 'noSuchKey' };

/** A start request's problem, answered as 400 with this code and message. */
export class JobRequestError extends Error {
  constructor(
    readonly code: 'BadParams' | 'BadJsonBody',
    message: string,
  ) {
    super(message);
  }
}

const MB = 1024 * 1024;

/** The path prefix of signed file URLs (not under /api: no key is needed, or accepted). */
export const SIGNED_PREFIX = '/signed/exports/';

/** The organisation's export jobs, advanced lazily on the clock. */
export class ExportJobs {
  readonly clock: () => number;
  private readonly jobs = new Map<number, ExportJob>();
  private readonly rules: QueuedRule[] = [];
  private readonly urls = new Map<string, SignedUrl>();
  private readonly secret = randomBytes(16);
  private nextId = 3562;
  private lastAdvance = -Infinity;
  readonly scale: number;
  readonly maxRunning: number;
  readonly filesPageSize: number;
  private readonly o: Required<Omit<ExportJobsOptions, 'clock' | 'timeScale' | 'maxRunning' | 'filesPageSize'>>;

  constructor(
    private readonly data: FakeData,
    options: ExportJobsOptions & { clock: () => number; timeScale: number },
  ) {
    if (!(options.timeScale > 0)) throw new Error('export jobs timeScale must be > 0');
    const clock = options.clock;
    this.clock = () => Math.floor(clock());
    this.scale = options.timeScale;
    this.maxRunning = Math.max(1, options.maxRunning ?? 4);
    this.filesPageSize = Math.max(1, options.filesPageSize ?? 100);
    this.o = {
      queueDelayMs: options.queueDelayMs ?? 2000,
      startupMs: options.startupMs ?? 10_000,
      bytesPerSecond: options.bytesPerSecond ?? 5 * MB,
      fileBytes: Math.max(1, options.fileBytes ?? 10 * MB),
      maxExportBytes: options.maxExportBytes ?? 100 * 1024 * MB,
      urlExpiryMs: options.urlExpiryMs ?? 30 * 60_000,
      cancelDelayMs: options.cancelDelayMs ?? 2000,
    };
  }

  /**
   * An Iterable duration (ms) on the scaled clock, in whole ms: every time and every unit of work
   * is an integer, so event times computed from work are exact (epoch ms leave no room for floats).
   */
  private scaled(ms: number): number {
    return Math.round(ms / this.scale);
  }

  /** Queues a rule for the next matching started jobs. */
  addRule(rule: JobRule): void {
    this.rules.push({ rule, remaining: rule.times ?? 1 });
  }

  clearRules(): void {
    this.rules.length = 0;
  }

  get(id: number): ExportJob | undefined {
    this.advance();
    return this.jobs.get(id);
  }

  /** Every job, oldest first. */
  all(): ExportJob[] {
    this.advance();
    return [...this.jobs.values()];
  }

  /** Starts a job (as `POST /api/export/start` does). */
  start(request: JobRequest): ExportJob {
    this.advance();
    const now = this.clock();
    const job: ExportJob = {
      id: this.nextId++,
      request,
      state: 'enqueued',
      createdAt: now,
      eligibleAt: now + this.scaled(this.o.queueDelayMs),
      workBefore: 0,
      files: [],
      listed: 0,
      totalWork: 0,
      isTruncated: false,
    };
    this.plan(job);
    const rule = this.takeRule(request.dataType);
    if (rule?.kind === 'hold') job.eligibleAt += this.scaled(rule.ms ?? 0);
    else if (rule !== undefined) {
      const afterFiles = Math.max(0, rule.afterFiles ?? 0);
      const atWork = afterFiles === 0 ? 0 : (job.files[Math.min(afterFiles, job.files.length) - 1]?.readyAtWork ?? 0);
      job.rule = { kind: rule.kind, atWork, ms: this.scaled(rule.ms ?? 0) };
    }
    this.jobs.set(job.id, job);
    this.advance();
    return job;
  }

  /** Cancels a queued or running job (as `DELETE` does); false when it has already finished. */
  cancel(id: number): boolean {
    this.advance();
    const job = this.jobs.get(id);
    if (job === undefined || FINISHED.has(job.state) || job.state === 'cancelling') return false;
    this.cancelNow(job, this.clock());
    this.advance();
    return true;
  }

  /** Makes a queued or running job fail now. */
  fail(id: number): void {
    this.advance();
    const job = this.mustGet(id);
    if (FINISHED.has(job.state)) return;
    this.pause(job, this.clock());
    job.state = 'failed';
    job.endTime = this.clock();
    this.advance();
  }

  /** Drops a running job back to enqueued for `ms` (Iterable time); it keeps its progress. */
  requeue(id: number, ms = 0): void {
    this.advance();
    const job = this.mustGet(id);
    if (job.state !== 'running') return;
    const now = this.clock();
    this.pause(job, now);
    job.state = 'enqueued';
    job.eligibleAt = now + this.scaled(ms);
    this.advance();
  }

  private mustGet(id: number): ExportJob {
    const job = this.jobs.get(id);
    if (job === undefined) throw new Error(`no export job ${id}`);
    return job;
  }

  private takeRule(dataType: ExportDataType): JobRule | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      const entry = this.rules[i] as QueuedRule;
      if (entry.rule.dataTypeName !== undefined && entry.rule.dataTypeName.toLowerCase() !== dataType.toLowerCase()) continue;
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.rules.splice(i, 1);
      return entry.rule;
    }
    return undefined;
  }

  /** The query whose rows the job exports, in data.json's order. */
  query(job: ExportJob): ExportQuery {
    const r = job.request;
    return {
      dataType: r.dataType,
      startMs: r.startMs,
      endMs: r.endMs,
      onlyFields: r.onlyFields,
      omitFields: r.omitFields,
      ...(r.campaignId !== undefined ? { campaignId: r.campaignId } : {}),
    };
  }

  /** Cuts the export into files of whole lines, up to the size cap. */
  private plan(job: ExportJob): void {
    const { fileBytes, maxExportBytes, startupMs, bytesPerSecond } = this.o;
    const workPerByte = 1000 / bytesPerSecond / this.scale;
    const startup = this.scaled(startupMs);
    let total = 0;
    let index = 0;
    let current: PlannedFile | undefined;
    for (const row of exportRows(this.data, this.query(job))) {
      const bytes = Buffer.byteLength(JSON.stringify(row)) + 1;
      if (total + bytes > maxExportBytes) {
        job.isTruncated = true;
        break;
      }
      if (current === undefined || (current.bytes + bytes > fileBytes && current.lines > 0)) {
        current = { firstRow: index, lines: 0, bytes: 0, readyAtWork: 0 };
        job.files.push(current);
      }
      current.lines += 1;
      current.bytes += bytes;
      total += bytes;
      current.readyAtWork = startup + Math.ceil(total * workPerByte);
      index += 1;
    }
    // A file with an odd number of lines lacks its final newline, as data.json's body does (§3.9).
    for (const file of job.files) if (file.lines % 2 === 1) file.bytes -= 1;
    job.totalWork = job.files.at(-1)?.readyAtWork ?? this.scaled(startupMs);
  }

  private work(job: ExportJob, at: number): number {
    return job.workBefore + (job.state === 'running' && job.runningSince !== undefined ? at - job.runningSince : 0);
  }

  private pause(job: ExportJob, at: number): void {
    if (job.state === 'running') {
      job.workBefore = this.work(job, at);
      delete job.runningSince;
    }
  }

  private cancelNow(job: ExportJob, at: number): void {
    if (job.state === 'running') {
      this.pause(job, at);
      job.state = 'cancelling';
      job.cancelAt = at + this.scaled(this.o.cancelDelayMs);
    } else {
      job.state = 'cancelled';
      job.endTime = at;
    }
  }

  /** Names newly listed files `file-<epoch ms>.json`, strictly increasing within the job. */
  private listUpTo(job: ExportJob, work: number, at: number): void {
    while (job.listed < job.files.length && (job.files[job.listed] as PlannedFile).readyAtWork <= work) {
      const file = job.files[job.listed] as PlannedFile;
      const readyAt = Math.floor(at - (work - file.readyAtWork));
      const previous = job.listed > 0 ? Number(/\d+/.exec((job.files[job.listed - 1] as PlannedFile).name ?? '')?.[0] ?? 0) : 0;
      file.name = `file-${Math.max(readyAt, previous + 1)}.json`;
      job.listed += 1;
    }
  }

  /** Replays every event up to the clock's now: files listed, ends, cancels, slots given out. */
  advance(): void {
    const now = this.clock();
    let t = this.lastAdvance === -Infinity ? now : this.lastAdvance;
    for (let guard = 0; ; guard++) {
      // Each pass lists a file or changes a state, so this only trips on a bug; better loud than wrong.
      if (guard > 10_000_000) throw new Error('export jobs: the event loop does not progress');
      this.fillSlots(t);
      // The next event at or after t.
      let next = Infinity;
      for (const job of this.jobs.values()) {
        if (job.state === 'running' && job.runningSince !== undefined) {
          const file = job.files[job.listed];
          const milestones = [job.totalWork, file?.readyAtWork ?? Infinity, job.rule?.atWork ?? Infinity];
          for (const m of milestones) next = Math.min(next, job.runningSince + Math.max(0, m - job.workBefore));
        } else if (job.state === 'cancelling' && job.cancelAt !== undefined) {
          next = Math.min(next, job.cancelAt);
        } else if (job.state === 'enqueued' && job.eligibleAt > t && this.runningCount() < this.maxRunning) {
          next = Math.min(next, job.eligibleAt);
        }
      }
      if (next > now) break;
      t = Math.max(t, next);
      for (const job of this.jobs.values()) this.step(job, t);
    }
    for (const job of this.jobs.values()) if (job.state === 'running') this.listUpTo(job, Math.min(this.work(job, now), job.totalWork), now);
    this.lastAdvance = now;
  }

  private runningCount(): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.state === 'running' || job.state === 'cancelling') n++;
    return n;
  }

  private fillSlots(t: number): void {
    let running = this.runningCount();
    for (const job of this.jobs.values()) {
      if (running >= this.maxRunning) return;
      if (job.state !== 'enqueued' || job.eligibleAt > t) continue;
      job.state = 'running';
      job.runningSince = t;
      running++;
    }
  }

  /** Applies what is due for one job at time t. */
  private step(job: ExportJob, t: number): void {
    if (job.state === 'cancelling' && job.cancelAt !== undefined && job.cancelAt <= t) {
      job.state = 'cancelled';
      job.endTime = job.cancelAt;
      return;
    }
    if (job.state !== 'running') return;
    const work = this.work(job, t);
    if (job.rule !== undefined && job.rule.atWork <= work) {
      const rule = job.rule;
      delete job.rule;
      this.listUpTo(job, rule.atWork, t - (work - rule.atWork));
      this.pause(job, t);
      job.workBefore = rule.atWork;
      if (rule.kind === 'fail') {
        job.state = 'failed';
        job.endTime = t;
      } else if (rule.kind === 'cancel') {
        this.cancelNow(job, t);
      } else {
        job.state = 'enqueued';
        job.eligibleAt = t + rule.ms;
      }
      return;
    }
    this.listUpTo(job, Math.min(work, job.totalWork), t);
    if (work >= job.totalWork) {
      this.listUpTo(job, Infinity, t);
      this.pause(job, t);
      job.state = 'completed';
      job.endTime = t;
    }
  }

  /** The `/files` answer; `baseUrl` is where the signed URLs point. */
  filesPage(job: ExportJob, startAfter: string | null, baseUrl: string): Record<string, unknown> {
    this.advance();
    const names = job.files.slice(0, job.listed).map((f) => f.name as string).sort();
    const page = names.filter((n) => startAfter === null || n > startAfter).slice(0, this.filesPageSize);
    return {
      jobId: job.id,
      jobState: job.state,
      exportTruncated: job.isTruncated && job.state === 'completed',
      files: page.map((file) => ({ file, url: this.sign(job.id, file, baseUrl) })),
    };
  }

  /** A `JobModel` (spec §3.13). */
  model(job: ExportJob): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: job.id,
      dataTypeName: job.request.dataType,
      jobState: job.state,
      scheduledStartTime: isoWithOffset(job.eligibleAt),
      bytesExported: job.files.slice(0, job.listed).reduce((sum, f) => sum + f.bytes, 0),
    };
    if (job.endTime !== undefined) out.endTime = isoWithOffset(job.endTime);
    return out;
  }

  private sign(jobId: number, file: string, baseUrl: string): string {
    const issuedAt = this.clock();
    const path = `${SIGNED_PREFIX}${jobId}/${file}`;
    const signature = createHmac('sha256', this.secret).update(`${path}|${issuedAt}|${this.urls.size}`).digest('hex');
    const expirySeconds = Math.round(this.o.urlExpiryMs / 1000);
    this.urls.set(signature, { jobId, file, issuedAt, expiresAt: issuedAt + this.o.urlExpiryMs });
    const params = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Date': new Date(issuedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
      'X-Amz-Expires': String(expirySeconds),
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': signature,
    });
    return `${baseUrl}${path}?${params.toString()}`;
  }

  /** Checks a signed download: the signature, its path, its expiry. */
  checkDownload(path: string, query: URLSearchParams): DownloadCheck {
    this.advance();
    const signed = this.urls.get(query.get('X-Amz-Signature') ?? '');
    if (signed === undefined || path !== `${SIGNED_PREFIX}${signed.jobId}/${signed.file}`) return { kind: 'badSignature' };
    if (this.clock() >= signed.expiresAt) {
      return { kind: 'expired', expiresAt: signed.expiresAt, expirySeconds: Math.round(this.o.urlExpiryMs / 1000) };
    }
    const job = this.jobs.get(signed.jobId);
    const file = job?.files.find((f) => f.name === signed.file);
    if (job === undefined || file === undefined) return { kind: 'noSuchKey' };
    return { kind: 'ok', job, file };
  }

  /** The JSON lines of one file. */
  *fileLines(job: ExportJob, file: PlannedFile): Generator<string> {
    let index = 0;
    const end = file.firstRow + file.lines;
    for (const row of exportRows(this.data, this.query(job))) {
      if (index >= end) return;
      if (index >= file.firstRow) yield JSON.stringify(row);
      index++;
    }
  }

  /** `jobState` filter values (case-insensitive; `queued` = enqueued); undefined when unknown. */
  static parseStateFilter(raw: string): JobState | undefined {
    const lower = raw.trim().toLowerCase();
    if (lower === 'queued') return 'enqueued';
    return JOB_STATES.find((s) => s === lower);
  }
}

function isoWithOffset(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/** Validates a `StartExportRequest` body (spec §3.13); throws JobRequestError. */
export function parseStartRequest(body: unknown): JobRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new JobRequestError('BadJsonBody', 'Invalid JSON body: expected a StartExportRequest object');
  }
  const b = body as Record<string, unknown>;
  const rawType = b.dataTypeName;
  if (rawType === undefined || rawType === null || rawType === '') throw new JobRequestError('BadParams', 'Missing required field: dataTypeName');
  const dataType = typeof rawType === 'string' ? canonicalDataType(rawType.trim()) : undefined;
  if (dataType === undefined) throw new JobRequestError('BadParams', `Invalid dataTypeName: ${JSON.stringify(rawType)}`);
  const format = b.outputFormat;
  if (format === undefined || format === null || format === '') throw new JobRequestError('BadParams', 'Missing required field: outputFormat');
  if (format === 'text/csv') {
    throw new JobRequestError('BadParams', 'outputFormat text/csv is not served by this fake; use application/x-json-stream');
  }
  if (format !== 'application/x-json-stream') {
    throw new JobRequestError('BadParams', `Invalid outputFormat: ${JSON.stringify(format)}. Valid values: text/csv, application/x-json-stream`);
  }
  const time = (name: 'startDateTime' | 'endDateTime', absent: number): number => {
    const raw = b[name];
    if (raw === undefined || raw === null) return absent;
    const ms = typeof raw === 'string' ? parseRequestDateTime(raw) : undefined;
    if (ms === undefined) throw new JobRequestError('BadParams', `Invalid ${name}: ${JSON.stringify(raw)}. Expected yyyy-MM-dd HH:mm:ss ZZ`);
    return ms;
  };
  const fields = (name: 'onlyFields' | 'omitFields'): string[] => {
    const raw = b[name];
    if (raw === undefined || raw === null) return [];
    if (typeof raw !== 'string') throw new JobRequestError('BadParams', `Invalid ${name}: expected a comma-separated string`);
    return [...new Set(raw.split(',').map((f) => f.trim()).filter((f) => f !== ''))];
  };
  const request: JobRequest = {
    dataType,
    startMs: time('startDateTime', -Infinity),
    endMs: time('endDateTime', Infinity),
    onlyFields: fields('onlyFields'),
    omitFields: fields('omitFields'),
  };
  if (b.campaignId !== undefined && b.campaignId !== null) {
    if (typeof b.campaignId !== 'number' || !Number.isSafeInteger(b.campaignId) || b.campaignId < 0) {
      throw new JobRequestError('BadParams', `Invalid campaignId: ${JSON.stringify(b.campaignId)}`);
    }
    request.campaignId = b.campaignId;
  }
  if (b.delimiter !== undefined && typeof b.delimiter !== 'string') throw new JobRequestError('BadParams', 'Invalid delimiter: expected a string');
  return request;
}

/** S3's XML error body. */
export function s3Error(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra).map(([k, v]) => `<${k}>${v}</${k}>`).join('');
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${fields}` +
    `<RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`;
}
