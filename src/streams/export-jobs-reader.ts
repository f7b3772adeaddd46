import type { RowWindow } from '../core/rows.js';
import { FatalApiError, RetryableApiError, SignedUrlExpiredError, StreamFailedError } from '../errors.js';
import type { ExportJobFile } from '../iterable/export-jobs-api.js';
import { MAX_RUNNING_EXPORT_JOBS } from '../iterable/rate-limits.js';
import type { StreamBookmark } from '../state/singer-state.js';
import { parseInstant } from '../core/instants.js';
import { formatIterableTime } from '../iterable/time-formats.js';
import { formatBookmark } from '../state/bookmark.js';
import { BATCH_SIZE, exportLineParserFor, parseExportLines } from './export-lines.js';
import type { ExportJobsRun } from './export-jobs-run.js';
import type { ReadContext, ReadEvent } from './read-context.js';
import type { TimeWindow } from './windows.js';

/**
 * Where a stream stands inside an export job, kept in its bookmark beside the replication key
 * (string values, as every bookmark; the Python tap ignores keys it does not know): the job, the
 * range it exports, and the last of its files committed (none yet: absent).
 */
export interface ExportJobPosition {
  jobId: number;
  startMs: number;
  endMs: number;
  lastFile?: string;
}

const POSITION_KEYS = {
  jobId: 'export_job_id',
  start: 'export_job_start',
  end: 'export_job_end',
  lastFile: 'export_job_file',
} as const;

/** The job position stored in a bookmark, or undefined when none (or an unreadable one). */
export function jobPositionOf(bookmark: StreamBookmark | undefined): ExportJobPosition | undefined {
  if (bookmark === undefined) return undefined;
  const jobId = Number(bookmark[POSITION_KEYS.jobId]);
  const start = parseInstant(bookmark[POSITION_KEYS.start] ?? '');
  const end = parseInstant(bookmark[POSITION_KEYS.end] ?? '');
  if (!Number.isSafeInteger(jobId) || jobId <= 0 || start === null || end === null || start >= end) return undefined;
  const lastFile = bookmark[POSITION_KEYS.lastFile];
  return { jobId, startMs: start.getTime(), endMs: end.getTime(), ...(lastFile ? { lastFile } : {}) };
}

/** The bookmark `base` (the replication key) with a job position added. */
function withJobPosition(base: StreamBookmark, position: ExportJobPosition): StreamBookmark {
  return {
    ...base,
    [POSITION_KEYS.jobId]: String(position.jobId),
    [POSITION_KEYS.start]: formatBookmark(new Date(position.startMs)),
    [POSITION_KEYS.end]: formatBookmark(new Date(position.endMs)),
    ...(position.lastFile !== undefined ? { [POSITION_KEYS.lastFile]: position.lastFile } : {}),
  };
}

const SECOND_MS = 1000;

/** The state of a job that may still produce files. */
const LIVE_STATES = new Set(['enqueued', 'queued', 'running', 'completed']);

/**
 * Reads an export stream through Iterable's export jobs: one job for the stream's whole remaining
 * range (the same range a data.json run reads), its files downloaded in file order as they appear,
 * each file committed with the job position (job id, last file) in the bookmark, and the bookmark
 * moved to the range's end once the job completed and its last file is committed. A killed run
 * resumes the job after its last committed file while Iterable still has it, else reads the range
 * again from the bookmark (upserts converge). A truncated export is read again in two halves; a
 * failed or cancelled job is started again up to a limit; an expired file URL is listed again; a
 * file cut mid-body is discarded and read again.
 */
export async function* readExportJobs(
  ctx: ReadContext,
  dataTypeName: string,
  run: ExportJobsRun,
  /** The stream's remaining range, as a data.json run would read it (whole seconds). */
  range: TimeWindow,
): AsyncGenerator<ReadEvent> {
  const { stream, logger } = ctx;
  const replicationKey = stream.replicationKey ?? 'createdAt';
  const minRangeMs = Math.max(SECOND_MS, ctx.minWindowMs ?? 15 * 60_000);
  const pollMinMs = Math.max(1, run.pollMinMs ?? SECOND_MS);
  const pollMaxMs = Math.max(pollMinMs, run.pollMaxMs ?? 30 * SECOND_MS);
  const queuedReportMs = run.queuedReportMs ?? 60 * SECOND_MS;
  const maxJobRestarts = run.maxJobRestarts ?? 3;
  const maxFileAttempts = run.maxFileAttempts ?? 6;
  const batchSize = ctx.batchSize ?? BATCH_SIZE;
  const parser = exportLineParserFor(ctx.stream, ctx.dateFields);

  // The replication key's value while a job runs: the stored bookmark, else the range's start
  // (nothing before start_date is wanted), so the stored bookmark always holds the key.
  let committedBookmark: StreamBookmark = { [replicationKey]: ctx.bookmark?.[replicationKey] ?? formatBookmark(new Date(range.startMs)) };
  const ranges: TimeWindow[] = [];
  let resume = jobPositionOf(ctx.bookmark);
  // Resumed only when it covers where this run starts (the bookmark has not moved since it began).
  if (resume !== undefined && !(resume.startMs <= range.startMs && resume.endMs > range.startMs && resume.endMs <= range.endMs)) {
    // Not resumable here (the bookmark or the lookback changed): free its slot at Iterable.
    const { jobId } = resume;
    resume = undefined;
    await run.api.cancelJob(jobId).catch((error: unknown) => logger.debug(`${stream.name}: export job ${jobId} not cancelled: ${String(error)}`));
  }
  if (resume !== undefined) {
    ranges.push({ startMs: resume.startMs, endMs: resume.endMs });
    if (resume.endMs < range.endMs) ranges.push({ startMs: resume.endMs, endMs: range.endMs });
  } else {
    ranges.push({ startMs: range.startMs, endMs: range.endMs });
  }
  yield { kind: 'plan', unitsTotal: ranges.length };

  while (ranges.length > 0) {
    const current = ranges.shift()!;
    const label = `[${new Date(current.startMs).toISOString()}, ${new Date(current.endMs).toISOString()})`;
    const rowWindow: RowWindow | undefined = stream.keyDeterminesReplicationKey
      ? { field: replicationKey, start: new Date(current.startMs).toISOString(), end: new Date(current.endMs).toISOString() }
      : undefined;
    let restarts = 0;
    let outcome: 'done' | 'truncated' | undefined;
    while (outcome === undefined) {
      let position: ExportJobPosition;
      let isResumed = false;
      await run.slots.acquire();
      let holdsSlot = true;
      const releaseSlot = () => {
        if (holdsSlot) run.slots.release();
        holdsSlot = false;
      };
      try {
        if (resume !== undefined && resume.startMs === current.startMs && resume.endMs === current.endMs) {
          position = resume;
          isResumed = true;
          resume = undefined;
        } else {
          const jobId = await run.api.startJob({
            dataTypeName,
            startDateTime: formatIterableTime(new Date(current.startMs)),
            endDateTime: formatIterableTime(new Date(current.endMs)),
          });
          position = { jobId, startMs: current.startMs, endMs: current.endMs };
          logger.info(`${stream.name}: export job ${jobId} started for ${label}`, { event: 'export_job_started', jobId });
          // Stored at once, so a run killed before the first file still finds (and cancels or resumes) it.
          yield { kind: 'checkpoint', bookmark: withJobPosition(committedBookmark, position) };
        }
        const jobId = position.jobId;
        let listedAfter = position.lastFile;
        const pending: ExportJobFile[] = [];
        let pollMs = pollMinMs;
        let queuedSinceMs: number | undefined;
        let nextQueuedReportMs = queuedReportMs;
        let fileAttempts = 0;
        for (;;) {
          let page;
          try {
            page = await run.api.listFiles(jobId, listedAfter);
          } catch (error) {
            // A resumed job Iterable no longer knows: read the range again from the bookmark.
            if (isResumed && error instanceof FatalApiError && (error.request.status === 404 || error.request.status === 400)) {
              logger.warn(`${stream.name}: export job ${jobId} of an earlier run is gone (${error.message}); reading ${label} again with a new job`);
              page = { jobId, jobState: 'failed', exportTruncated: false, files: [] };
            } else {
              throw error;
            }
          }
          const state = page.jobState;
          if (state === 'enqueued' || state === 'queued') {
            queuedSinceMs ??= Date.now();
            const queuedMs = Date.now() - queuedSinceMs;
            if (queuedMs >= nextQueuedReportMs) {
              logger.warn(
                `${stream.name}: export job ${jobId} has been queued at Iterable for ${Math.round(queuedMs / SECOND_MS)} s ` +
                  `(Iterable runs ${MAX_RUNNING_EXPORT_JOBS} export jobs at a time per organisation; other clients' jobs may hold the slots)`,
                { event: 'export_job_queued', jobId, queuedMs },
              );
              nextQueuedReportMs += queuedReportMs;
            }
          } else {
            queuedSinceMs = undefined;
            nextQueuedReportMs = queuedReportMs;
          }
          if (!LIVE_STATES.has(state)) {
            releaseSlot();
            restarts += 1;
            if (restarts > maxJobRestarts) {
              throw new StreamFailedError(
                stream.name,
                `${stream.name}: the export job for ${label} ended ${state} ${restarts} times (last: job ${jobId}); ` +
                  `everything before ${committedBookmark[replicationKey]} is committed; run \`iterable-sync sync --streams ${stream.name}\` again later to resume from there`,
              );
            }
            logger.warn(`${stream.name}: export job ${jobId} for ${label} ended ${state}; starting it again (${restarts} of ${maxJobRestarts})`, {
              event: 'export_job_restarted',
              jobId,
            });
            break;
          }
          pending.push(...page.files);
          if (page.files.length > 0) listedAfter = page.files[page.files.length - 1]!.file;
          const isComplete = state === 'completed';
          if (isComplete) releaseSlot();
          // Download what is listed, in file order; each file is committed with its position.
          let relist = false;
          while (pending.length > 0) {
            const file = pending[0]!;
            const source = `export job ${jobId} file ${file.file}`;
            let yielded = false;
            let batch: string[] = [];
            try {
              for await (const lines of run.api.downloadFile(file.url)) {
                for (const line of lines) batch.push(line);
                if (batch.length >= batchSize) {
                  const { rows, rejected } = parseExportLines(batch, parser, stream.name, source);
                  yield { kind: 'records', records: rows, rejected, window: rowWindow };
                  yielded = true;
                  batch = [];
                }
              }
            } catch (error) {
              if (!(error instanceof RetryableApiError)) throw error;
              fileAttempts += 1;
              if (yielded) yield { kind: 'discard', reason: error.message };
              if (fileAttempts >= maxFileAttempts) {
                throw new StreamFailedError(
                  stream.name,
                  `${stream.name}: file ${file.file} of export job ${jobId} (${label}) failed ${fileAttempts} times (last: ${error.message}); ` +
                    `everything before it is committed; run \`iterable-sync sync --streams ${stream.name}\` again to resume from there`,
                  { cause: error },
                );
              }
              if (error instanceof SignedUrlExpiredError) {
                // Fresh URLs: list the job's files again from the last committed one.
                logger.info(`${stream.name}: the URL of ${file.file} (export job ${jobId}) expired; listing the files again`, { event: 'export_url_expired', jobId });
                pending.length = 0;
                listedAfter = position.lastFile;
                relist = true;
                break;
              }
              logger.warn(`${stream.name}: file ${file.file} of export job ${jobId} broke off; reading it again`, { error: error.message, attempt: fileAttempts });
              await sleep(Math.min(pollMaxMs, pollMinMs * 2 ** (fileAttempts - 1)), run.signal);
              continue;
            }
            if (batch.length > 0) {
              const { rows, rejected } = parseExportLines(batch, parser, stream.name, source);
              yield { kind: 'records', records: rows, rejected, window: rowWindow };
            }
            pending.shift();
            fileAttempts = 0;
            position = { ...position, lastFile: file.file };
            yield { kind: 'checkpoint', bookmark: withJobPosition(committedBookmark, position) };
            logger.debug(`${stream.name}: file ${file.file} of export job ${jobId} committed`, { event: 'export_file_committed', jobId });
          }
          if (relist) continue;
          if (page.files.length > 0) {
            pollMs = pollMinMs;
            continue; // maybe more pages already listed
          }
          if (isComplete) {
            outcome = page.exportTruncated ? 'truncated' : 'done';
            break;
          }
          await sleep(pollMs, run.signal);
          pollMs = Math.min(pollMaxMs, pollMs * 2);
        }
      } finally {
        releaseSlot();
      }
    }
    if (outcome === 'truncated') {
      const length = current.endMs - current.startMs;
      if (length / 2 < minRangeMs) {
        throw new StreamFailedError(
          stream.name,
          `${stream.name}: the export job for ${label} was truncated by Iterable's export size cap, and halves shorter than ` +
            `${Math.round(minRangeMs / 60_000)} min are not tried; everything before ${committedBookmark[replicationKey]} is committed`,
        );
      }
      const midMs = current.startMs + Math.floor(length / 2 / SECOND_MS) * SECOND_MS;
      logger.warn(`${stream.name}: the export job for ${label} was truncated (exportTruncated); reading it again in two halves`, {
        event: 'export_job_truncated',
      });
      ranges.unshift({ startMs: current.startMs, endMs: midMs }, { startMs: midMs, endMs: current.endMs });
      continue;
    }
    committedBookmark = { [replicationKey]: formatBookmark(new Date(current.endMs)) };
    yield { kind: 'checkpoint', bookmark: committedBookmark, window: current };
    yield { kind: 'unit-done', label };
  }
}

/** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
