/**
 * Fault injection: a FIFO queue of faults, each matched on the exact path (and optionally the
 * export `dataTypeName`) and consumed per matching request.
 */
import type { ExportRow } from './data-types.js';

/** Which requests a fault hits. */
export interface FaultTarget {
  /**
   * Exact path without query, e.g. `/api/export/data.json`, or a route's template:
   * `/api/export/{jobId}/files`, `/api/export/{jobId}` (DELETE), `/signed/exports/{jobId}/{file}`.
   */
  path: string;
  /** Only requests with this `dataTypeName` (case-insensitive). */
  dataTypeName?: string;
  /** Requests it hits before it is used up. Default 1; `Infinity` = until clearFaults(). */
  times?: number;
}

/** Answer with this status and Iterable's real body for it (or `body`). */
export interface StatusFault extends FaultTarget {
  kind: 'status';
  status: number;
  body?: string;
  /** Adds `Retry-After` (Iterable sends none by default, spec §1.5). */
  retryAfterSeconds?: number;
}

/** Send `afterLines` lines and half of the next, then destroy the socket (no last chunk). */
export interface CutFault extends FaultTarget {
  kind: 'cut';
  afterLines: number;
}

/** Send `afterLines` lines, then pause `ms` before the rest. */
export interface StallFault extends FaultTarget {
  kind: 'stall';
  afterLines: number;
  ms: number;
}

/** Wait `msPerChunk` before every chunk of the body. */
export interface SlowFault extends FaultTarget {
  kind: 'slow';
  msPerChunk: number;
}

/** Insert the line `text` (not JSON) after `afterLines` lines; the rest follows normally. */
export interface MalformedFault extends FaultTarget {
  kind: 'malformed';
  afterLines: number;
  text: string;
}

/**
 * Eventual consistency: `rows` join the export of `dataTypeName` from the `fromCall`-th matching
 * export call on (1-based, counted from injection). Not consumed; cleared by clearFaults().
 */
export interface LateFault extends FaultTarget {
  kind: 'late';
  dataTypeName: string;
  rows: ExportRow[];
  fromCall: number;
}

export type BodyFault = CutFault | StallFault | SlowFault | MalformedFault;
export type Fault = StatusFault | BodyFault | LateFault;

interface QueuedFault {
  fault: Fault;
  remaining: number;
  /** Matching export calls seen, for `late`. */
  calls: number;
}

function matches(fault: Fault, path: string, dataTypeName: string | null, template?: string): boolean {
  if (fault.path !== path && fault.path !== template) return false;
  if (fault.dataTypeName === undefined) return true;
  return dataTypeName !== null && fault.dataTypeName.toLowerCase() === dataTypeName.toLowerCase();
}

/** The server's queue of injected faults. */
export class FaultQueue {
  private queue: QueuedFault[] = [];

  inject(fault: Fault): void {
    this.queue.push({ fault, remaining: fault.times ?? 1, calls: 0 });
  }

  clear(): void {
    this.queue = [];
  }

  /** The first matching status or body fault (by path or route template), consumed once. */
  take(path: string, dataTypeName: string | null, template?: string): StatusFault | BodyFault | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const entry = this.queue[i] as QueuedFault;
      if (entry.fault.kind === 'late' || !matches(entry.fault, path, dataTypeName, template)) continue;
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.queue.splice(i, 1);
      return entry.fault;
    }
    return undefined;
  }

  /** Counts one export call and returns the late rows visible to it. */
  lateRows(path: string, dataTypeName: string): ExportRow[] {
    const rows: ExportRow[] = [];
    for (const entry of this.queue) {
      if (entry.fault.kind !== 'late' || !matches(entry.fault, path, dataTypeName)) continue;
      entry.calls += 1;
      if (entry.calls >= entry.fault.fromCall) rows.push(...entry.fault.rows);
    }
    return rows;
  }
}
