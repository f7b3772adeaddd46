import { AsyncLocalStorage } from 'node:async_hooks';
import type { RateLimitWait } from './rate-limiter.js';

/** One wait before a retry, as reported to the stream that made the request. */
export interface RetryNotice {
  /** Milliseconds until the next attempt. */
  waitMs: number;
  /** Why: `500 Internal Server Error`, `network error ECONNRESET`. */
  reason: string;
  /** The attempt that failed, starting at 1. */
  attempt: number;
  /** The request, without the key (`/api/export/data.json?dataTypeName=emailSend&…`). */
  path: string;
}

/** Who a request is made for: lets the client attribute rate-limit waits and retries to a stream. */
export interface RequestContext {
  /** Milliseconds this context's requests waited for the rate limiter. */
  rateLimitWaitMs: number;
  /** Told when one of this context's requests waits long for its rate-limit slot, and again while it waits. */
  onRateLimitWait?: (wait: RateLimitWait) => void;
  /** Called before each retry wait of this context's requests; the client then logs it at debug level only. */
  onRetry?: (retry: RetryNotice) => void;
}

/** The context of the requests made inside `runWithRequestContext`. */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs `body` so that every request it makes adds its rate-limit waits to `context`. */
export function runWithRequestContext<T>(context: RequestContext, body: () => Promise<T>): Promise<T> {
  return requestContext.run(context, body);
}
