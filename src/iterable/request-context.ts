import { AsyncLocalStorage } from 'node:async_hooks';
import type { RateLimitWait } from './rate-limiter.js';

/** Who a request is made for: lets the client attribute rate-limit waits to a stream. */
export interface RequestContext {
  /** Milliseconds this context's requests waited for the rate limiter. */
  rateLimitWaitMs: number;
  /** Told when one of this context's requests waits long for its rate-limit slot, and again while it waits. */
  onRateLimitWait?: (wait: RateLimitWait) => void;
}

/** The context of the requests made inside `runWithRequestContext`. */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs `body` so that every request it makes adds its rate-limit waits to `context`. */
export function runWithRequestContext<T>(context: RequestContext, body: () => Promise<T>): Promise<T> {
  return requestContext.run(context, body);
}
