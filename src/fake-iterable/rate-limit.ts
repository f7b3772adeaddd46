/**
 * Iterable's documented rate limits (spec §2) as a small pure sliding-window limiter. The fake
 * keeps one per server; time is passed in, so tests need no clock. The numbers are the fake's
 * own, on purpose: they are what the client's pacing (`iterable/rate-limits.ts`) is tested against.
 */
import type { EndpointFamily } from '../iterable/types.js';

/** Endpoint families that share one limit: the connector's. */
export type RateLimitFamily = EndpointFamily;

export interface RateLimit {
  requests: number;
  periodMs: number;
  /** How the 429 message names the limit: `4.0 per minute`. */
  text: string;
}

const MINUTE_MS = 60_000;
const SECOND_MS = 1_000;

/** Documented limits per project; `metadata` has none (spec §2). */
export const ITERABLE_RATE_LIMITS: Readonly<Record<RateLimitFamily, RateLimit | undefined>> = {
  export: { requests: 4, periodMs: MINUTE_MS, text: '4.0 per minute' }, // data.json: 4 requests/minute
  exportStart: { requests: 1, periodMs: SECOND_MS, text: '1.0 per second' }, // export/start: 1 request/second per organisation
  exportFiles: { requests: 1, periodMs: SECOND_MS, text: '1.0 per second' }, // export/{jobId}/files: 1 request/second per organisation
  exportCancel: { requests: 1, periodMs: SECOND_MS, text: '1.0 per second' }, // DELETE export/{jobId}: 1 request/second per project
  exportJobs: undefined, // export/jobs: not stated
  exportDownload: undefined, // signed file URLs: served by the file host, not Iterable's API
  listUsers: { requests: 5, periodMs: MINUTE_MS, text: '5.0 per minute' }, // lists/getUsers: 5 requests/minute
  campaigns: { requests: 100, periodMs: SECOND_MS, text: '100.0 per second' }, // 100 requests/second
  campaignMetrics: { requests: 10, periodMs: MINUTE_MS, text: '10.0 per minute' }, // campaigns/metrics: 10 requests/minute
  channels: { requests: 100, periodMs: SECOND_MS, text: '100.0 per second' },
  lists: { requests: 100, periodMs: SECOND_MS, text: '100.0 per second' },
  messageTypes: { requests: 100, periodMs: SECOND_MS, text: '100.0 per second' },
  templates: { requests: 100, periodMs: SECOND_MS, text: '100.0 per second' },
  userFields: { requests: 3, periodMs: SECOND_MS, text: '3.0 per second' }, // users/getFields: 3 requests/second
  metadata: undefined, // not stated
};

export type RateDecision = { isAllowed: true } | { isAllowed: false; retryAfterMs: number; limit: RateLimit };

/**
 * Sliding-window log per family: a request is allowed when fewer than `requests` accepted
 * requests fall in the last `periodMs / timeScale`. Refused requests are not counted.
 */
export class SlidingWindowLimiter {
  private readonly accepted = new Map<RateLimitFamily, number[]>();

  /** `timeScale` divides every period (60 → the export limit becomes 4 per second). */
  constructor(
    private readonly timeScale = 1,
    private readonly limits: Readonly<Record<RateLimitFamily, RateLimit | undefined>> = ITERABLE_RATE_LIMITS,
  ) {
    if (!(timeScale > 0)) throw new Error('timeScale must be > 0');
  }

  /** Records the request when allowed. */
  tryAcquire(family: RateLimitFamily, nowMs: number): RateDecision {
    const limit = this.limits[family];
    if (limit === undefined) return { isAllowed: true };
    const periodMs = limit.periodMs / this.timeScale;
    const log = this.accepted.get(family) ?? [];
    while (log.length > 0 && (log[0] as number) <= nowMs - periodMs) log.shift();
    if (log.length >= limit.requests) {
      return { isAllowed: false, retryAfterMs: Math.max(0, (log[0] as number) + periodMs - nowMs), limit };
    }
    log.push(nowMs);
    this.accepted.set(family, log);
    return { isAllowed: true };
  }

  reset(): void {
    this.accepted.clear();
  }
}

/** The 429 message Iterable sends, trailing space included (spec §1.4). */
export function rateLimitMessage(path: string, projectId: number, limit: RateLimit | undefined): string {
  return limit === undefined
    ? `Exceeded rate limit for endpoint: ${path}, project: ${projectId} `
    : `Exceeded rate limit of ${limit.text} for endpoint: ${path}, project: ${projectId} `;
}
