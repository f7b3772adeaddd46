import type { ExportJobsApi } from '../iterable/export-jobs-api.js';
import { MAX_RUNNING_EXPORT_JOBS } from '../iterable/rate-limits.js';

/** Lets at most `size` holders run at once; the others wait in call order. */
export class JobSlots {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number = MAX_RUNNING_EXPORT_JOBS) {}

  /** Resolves once a slot is free (the caller then holds it until `release`). */
  acquire(): Promise<void> {
    if (this.held < this.size) {
      this.held += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = Math.max(0, this.held - 1);
  }
}

/** What every stream reading through export jobs in one run shares. */
export interface ExportJobsRun {
  api: ExportJobsApi;
  /** Our jobs running or queued at Iterable at once (Iterable runs 4 per organisation). */
  slots: JobSlots;
  /** First and longest wait between two looks at a job's files (doubling while nothing new comes). Default 1 s and 30 s. */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** A job queued this long is reported, and again each time as long again. Default 60 s. */
  queuedReportMs?: number;
  /** Jobs started again for one range after it failed or was cancelled. Default 3. */
  maxJobRestarts?: number;
  /** Reads of one file (cut bodies, expired URLs) before the stream fails. Default 6. */
  maxFileAttempts?: number;
  /** Aborting it ends the waits between polls. */
  signal?: AbortSignal;
}
