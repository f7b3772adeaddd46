import { FatalApiError } from '../errors.js';
import type { IterableClient } from './client.js';

/**
 * A job's state as Iterable sends it, lower-cased (its wire values are lower case, its Swagger
 * enum capitalised): `enqueued`, `running`, `completed`, `failed`, `cancelling`, `cancelled`.
 */
export type ExportJobState = string;

/** One file of a job: its name (the `startAfter` cursor) and its signed download URL. */
export interface ExportJobFile {
  file: string;
  url: string;
}

/** One answer of `GET /api/export/{jobId}/files`: the job's state and the files after `startAfter`. */
export interface ExportJobFilesPage {
  jobId: number;
  jobState: ExportJobState;
  /** The export hit Iterable's size cap: its files hold only part of the range. */
  exportTruncated: boolean;
  files: ExportJobFile[];
}

/** One job of `GET /api/export/jobs`. */
export interface ExportJobSummary {
  id: number;
  dataTypeName: string;
  jobState: ExportJobState;
}

/** What the export-jobs reader asks of Iterable (Iterable's asynchronous export jobs, §3.13). */
export interface ExportJobsApi {
  /** `POST /api/export/start` for `[startDateTime, endDateTime)` as JSON lines; the job's id. */
  startJob(request: { dataTypeName: string; startDateTime: string; endDateTime: string }): Promise<number>;
  /** `GET /api/export/{jobId}/files?startAfter=`: the job's state and its files after `startAfter`. */
  listFiles(jobId: number, startAfter: string | undefined): Promise<ExportJobFilesPage>;
  /** `GET /api/export/jobs`: the project's recent jobs. */
  listJobs(): Promise<ExportJobSummary[]>;
  /** `DELETE /api/export/{jobId}`: cancels a queued or running job. */
  cancelJob(jobId: number): Promise<void>;
  /** A file's lines, chunk by chunk, from its signed URL (without the API key). */
  downloadFile(url: string): AsyncGenerator<string[]>;
}

/** The export jobs API over Iterable's client: each call in its own rate-limit family. */
export function exportJobsApi(client: IterableClient): ExportJobsApi {
  return {
    async startJob({ dataTypeName, startDateTime, endDateTime }) {
      const path = '/api/export/start';
      const body = await client.sendJson<unknown>(
        'POST',
        path,
        { dataTypeName, outputFormat: 'application/x-json-stream', startDateTime, endDateTime },
        'exportStart',
      );
      const jobId = (body as { jobId?: unknown } | null)?.jobId;
      if (typeof jobId !== 'number' || !Number.isSafeInteger(jobId)) throw unexpected('POST', path, 'a "jobId" number', body);
      return jobId;
    },
    async listFiles(jobId, startAfter) {
      const path = `/api/export/${jobId}/files`;
      const body = await client.getJson<Record<string, unknown> | null>(path, { startAfter }, 'exportFiles');
      const files = body?.files ?? [];
      const state = body?.jobState;
      if (typeof state !== 'string' || !Array.isArray(files)) throw unexpected('GET', path, 'a "jobState" string and a "files" array', body);
      for (const f of files as unknown[]) {
        const entry = f as Partial<ExportJobFile> | null;
        if (typeof entry?.file !== 'string' || typeof entry.url !== 'string') throw unexpected('GET', path, 'files with "file" and "url" strings', body);
      }
      return { jobId, jobState: state.toLowerCase(), exportTruncated: body?.exportTruncated === true, files: files as ExportJobFile[] };
    },
    async listJobs() {
      const path = '/api/export/jobs';
      const body = await client.getJson<{ jobs?: unknown } | null>(path, {}, 'exportJobs');
      if (!Array.isArray(body?.jobs)) throw unexpected('GET', path, 'a "jobs" array', body);
      return (body.jobs as Array<Record<string, unknown>>)
        .filter((job) => typeof job?.id === 'number')
        .map((job) => ({ id: job.id as number, dataTypeName: String(job.dataTypeName ?? ''), jobState: String(job.jobState ?? '').toLowerCase() }));
    },
    async cancelJob(jobId) {
      await client.sendJson<unknown>('DELETE', `/api/export/${jobId}`, undefined, 'exportCancel');
    },
    downloadFile(url) {
      return client.streamSignedUrl(url, 'exportDownload');
    },
  };
}

function unexpected(method: string, path: string, expected: string, body: unknown): FatalApiError {
  const text = JSON.stringify(body) ?? String(body);
  return new FatalApiError(
    `${method} ${path}: expected ${expected}, got ${text.length > 120 ? `${text.slice(0, 120)}…` : text}; this is likely an Iterable API change, please report it.`,
    { method, path },
  );
}
