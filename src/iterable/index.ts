export { IterableClient, type StreamedBody } from './client.js';
export { LineSplitter } from './line-splitter.js';
export { RateLimiter, type RateLimiterOptions } from './rate-limiter.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RATE_LIMITS, type RateLimit } from './rate-limits.js';
export {
  DEFAULT_RETRY_POLICY,
  HTTP_PARSER_ERROR_CODE,
  backoffDelayMs,
  decideRetry,
  errorCodeOf,
  isRetryableNetworkCode,
  isRetryableStatus,
  parseRetryAfter,
  type AttemptFailure,
  type JitterKind,
  type RetryDecision,
  type RetryInput,
  type RetryPolicyOptions,
} from './retry-policy.js';
export type {
  ClientStats,
  EndpointFamily,
  IterableClientOptions,
  Logger,
  Query,
} from './types.js';
export { userAgent } from './user-agent.js';
