import type { Logger } from '../core/types.js';
import { ConnectorError } from '../errors.js';
import type { ExportJobsApi } from '../iterable/export-jobs-api.js';
import type { StreamBookmark } from '../state/singer-state.js';
import { jobPositionOf } from '../streams/export-jobs-reader.js';

/** Job states that hold (or wait for) one of the organisation's export slots. */
const UNFINISHED = new Set(['enqueued', 'queued', 'running']);

/**
 * Cancels the export jobs an earlier run left queued or running (their ids are in the stored
 * bookmarks) unless this run resumes them (`resumed`), so they never hold the organisation's
 * slots. Looks them up with `GET /api/export/jobs` and cancels each with `DELETE`. Returns the
 * ids cancelled. A refused or failing lookup is a warning, never a failed run.
 */
export async function cancelLeftoverJobs(options: {
  api: ExportJobsApi;
  bookmarks: Readonly<Record<string, StreamBookmark>>;
  /** Job ids this run resumes. */
  resumed: ReadonlySet<number>;
  logger: Logger;
}): Promise<number[]> {
  const { api, logger } = options;
  const streamOf = new Map<number, string>();
  for (const [stream, bookmark] of Object.entries(options.bookmarks)) {
    const position = jobPositionOf(bookmark);
    if (position !== undefined && !options.resumed.has(position.jobId)) streamOf.set(position.jobId, stream);
  }
  if (streamOf.size === 0) return [];
  const cancelled: number[] = [];
  try {
    const jobs = await api.listJobs();
    for (const job of jobs) {
      const stream = streamOf.get(job.id);
      if (stream === undefined || !UNFINISHED.has(job.jobState)) continue;
      try {
        await api.cancelJob(job.id);
      } catch (error) {
        // It may have finished between the lookup and the DELETE.
        if (!(error instanceof ConnectorError)) throw error;
        logger.warn(`${stream}: could not cancel export job ${job.id} left by an earlier run: ${error.message}`);
        continue;
      }
      cancelled.push(job.id);
      logger.info(`${stream}: cancelled export job ${job.id} (${job.jobState}), left by an earlier run that stopped before it finished`, {
        event: 'export_job_cancelled',
        stream,
        jobId: job.id,
      });
    }
  } catch (error) {
    if (!(error instanceof ConnectorError)) throw error;
    logger.warn(`could not cancel the export jobs an earlier run left (${[...streamOf.keys()].join(', ')}): ${error.message}; they may hold Iterable's export slots until they finish`);
  }
  return cancelled;
}
