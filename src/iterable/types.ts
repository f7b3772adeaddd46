import type { Logger } from '../core/types.js';

/** Query parameters; arrays are sent as repeated parameters (`campaignState=a&campaignState=b`). */
export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

/**
 * Endpoint families that share one Iterable rate limit. The limits themselves live in
 * `rate-limits.ts`; a request names its family so the limiter can pace it.
 */
export type EndpointFamily =
  | 'export'
  | 'exportStart'
  | 'exportFiles'
  | 'exportJobs'
  | 'exportCancel'
  | 'exportDownload'
  | 'listUsers'
  | 'campaigns'
  | 'campaignMetrics'
  | 'channels'
  | 'lists'
  | 'messageTypes'
  | 'metadata'
  | 'templates'
  | 'userFields';

/** Counters the client keeps for summaries and benchmarks. */
export interface ClientStats {
  /** Requests sent, by path without query (`/api/export/data.json`). */
  requestsByPath: Map<string, number>;
  /** Responses per HTTP status. */
  responsesByStatus: Map<number, number>;
  /** Retries performed. */
  retries: number;
  /** Milliseconds spent waiting for the rate limiter, per family. */
  rateLimitWaitMs: Map<EndpointFamily, number>;
}

export interface IterableClientOptions {
  apiKey: string;
  /** e.g. `https://api.iterable.com` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Milliseconds to wait for a connection and response headers. Default 60_000. */
  connectTimeoutMs?: number;
  /** Milliseconds a response body may stall between two chunks. Default 300_000. */
  idleTimeoutMs?: number;
  /** Attempts per request before giving up (first try included). Default 8. */
  maxAttempts?: number;
  /** Base of the exponential backoff, in ms. Default 1000. */
  backoffBaseMs?: number;
  /** Cap of one backoff delay, in ms. Default 120_000. */
  backoffMaxMs?: number;
  /**
   * Divides every rate-limit period (1 = Iterable's real limits; 60 = a minute lasts a second).
   * `Infinity` or 0 disables pacing. Default 1.
   */
  rateLimitTimeScale?: number;
  /** Longest Retry-After honoured, in ms; longer values are cut to this. Default 120_000. */
  retryAfterMaxMs?: number;
  /** Backoff jitter (see `retry-policy.ts`). Default `decorrelated`. */
  retryJitter?: 'full' | 'decorrelated' | 'none';
  logger?: Logger;
  /**
   * Aborting it stops every request at once (waits for a rate-limit slot and retry delays too):
   * they reject with the signal's reason.
   */
  signal?: AbortSignal;
}
