/**
 * The one place that decides whether a failed request is retried and how long to wait. The client
 * reports what went wrong; `decideRetry` answers. Nothing else classifies HTTP failures.
 */

import { STATUS_CODES } from 'node:http';

/** What went wrong with one attempt. */
export type AttemptFailure =
  /**
   * Iterable answered with a non-2xx status. `retryAfter` is the raw header, if any;
   * `iterableCode` the `code` of Iterable's error body (`BadApiKey`), if it sent one.
   */
  | { kind: 'status'; status: number; retryAfter?: string | undefined; iterableCode?: string | undefined }
  /** No response: connection refused or reset, timeouts, DNS, TLS. `code` as Node/undici set it. */
  | { kind: 'network'; code: string | undefined }
  /** A 2xx response whose body broke off before it ended (socket closed, idle timeout). */
  | { kind: 'bodyCut'; code: string | undefined };

/** How backoff delays are randomised (see `RetryPolicyOptions.jitter`). */
export type JitterKind = 'full' | 'decorrelated' | 'none';

/** Limits and shape of retrying; the client fills it from `IterableClientOptions`. */
export interface RetryPolicyOptions {
  /** Attempts per request, the first included. Default 8. */
  maxAttempts: number;
  /** Base of the exponential backoff, in ms. Default 1000. */
  backoffBaseMs: number;
  /** Cap of one backoff delay, in ms. Default 120_000. */
  backoffMaxMs: number;
  /** Longest Retry-After honoured; longer values are cut to this. Default 120_000. */
  retryAfterMaxMs: number;
  /**
   * `full`: uniform in [0, base·2^(n-1)]; `decorrelated`: uniform in [base, 3 × previous delay]
   * (never below base, grows on average); `none`: base·2^(n-1). All capped. Default `decorrelated`.
   */
  jitter: JitterKind;
}

/** The defaults: 8 attempts, 1 s base, 2 min cap, 2 min Retry-After cap, decorrelated jitter. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicyOptions> = {
  maxAttempts: 8,
  backoffBaseMs: 1000,
  backoffMaxMs: 120_000,
  retryAfterMaxMs: 120_000,
  jitter: 'decorrelated',
};

/** Everything `decideRetry` needs to know about one failed attempt. */
export interface RetryInput {
  /** Number of the attempt that just failed, starting at 1. */
  attempt: number;
  failure: AttemptFailure;
  /** Delay chosen before the previous retry; decorrelated jitter grows from it. */
  previousDelayMs?: number | undefined;
  /**
   * The endpoint family's rate-limit period (already scaled). A 429 without Retry-After waits at
   * least this long, since the window that refused us must drain first. Default 0.
   */
  rateLimitPeriodMs?: number | undefined;
  /** Current time in ms, for Retry-After dates and the deadline. Default `Date.now()`. */
  nowMs?: number | undefined;
  /**
   * No retry starts after this instant (ms, same clock as `nowMs`): a backoff that would end later
   * is cut to end at it (one last attempt), a server-requested wait (429, Retry-After) that would
   * fails with `deadline`, and so does any failure at or after it. Default none.
   */
  deadlineMs?: number | undefined;
  /** Uniform random in [0, 1). Default `Math.random`. */
  random?: (() => number) | undefined;
}

/** Retry after `delayMs`, or fail (and why). */
export type RetryDecision =
  | {
      action: 'retry';
      delayMs: number;
      /** Short human text: `503 Service Unavailable`, `network error ECONNRESET`. */
      reason: string;
      /** The server's Retry-After in ms, when it sent a valid one. */
      retryAfterMs?: number | undefined;
      /** True for a 429: the caller should hold back the whole family, not just this request. */
      isRateLimited: boolean;
    }
  | {
      action: 'fail';
      /**
       * `not-retryable`: retrying cannot help (400, 401, 404...); `exhausted`: out of attempts;
       * `deadline`: `deadlineMs` has passed, or the server-requested wait would end after it.
       */
      why: 'not-retryable' | 'exhausted' | 'deadline';
      reason: string;
      retryAfterMs?: number | undefined;
    };

/** Statuses worth another attempt: request timeout, too many requests, transient server errors. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Network error codes worth another attempt (Node `errno` codes and undici's `UND_ERR_*`). */
const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** True for HTTP statuses that a later attempt may turn into a success. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** True for network error codes that a later attempt may avoid; `HPE_*` is a broken HTTP stream. */
export function isRetryableNetworkCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  return RETRYABLE_NETWORK_CODES.has(code) || code.startsWith('HPE_');
}

/**
 * Parses a Retry-After header (delay-seconds or an HTTP date) into ms from `nowMs`; `undefined`
 * when absent or unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(value: string | undefined | null, nowMs = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) {
    const ms = Math.ceil(Number(text) * 1000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Only HTTP dates ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse alone would accept "-1" or "7".
  if (!/[a-z]/i.test(text)) return undefined;
  const atMs = Date.parse(text);
  if (Number.isNaN(atMs)) return undefined;
  return Math.max(0, atMs - nowMs);
}

/** Code given to undici's HTTPParserError, whose own `code` is undefined in undici 7. */
const HTTP_PARSER_ERROR_CODE = 'HPE_PARSER_ERROR';

/**
 * The error code of a network failure: `err.code`, or that of its `cause` or inner errors.
 * undici's HTTPParserError (bad chunked encoding...) gets `HPE_PARSER_ERROR`.
 */
export function errorCodeOf(error: unknown, depth = 0): string | undefined {
  if (depth > 4 || typeof error !== 'object' || error === null) return undefined;
  const { code, cause, errors, name } = error as { code?: unknown; cause?: unknown; errors?: unknown; name?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  if (name === 'HTTPParserError') return HTTP_PARSER_ERROR_CODE;
  const fromCause = errorCodeOf(cause, depth + 1);
  if (fromCause !== undefined) return fromCause;
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const innerCode = errorCodeOf(inner, depth + 1);
      if (innerCode !== undefined) return innerCode;
    }
  }
  return undefined;
}

/** `429 Too Many Requests`. */
export function describeStatus(status: number): string {
  const text = STATUS_CODES[status];
  return text ? `${status} ${text}` : `${status}`;
}

/** The backoff delay before retry number `attempt` (1 = first retry), capped, with jitter. */
export function backoffDelayMs(
  attempt: number,
  options: Pick<RetryPolicyOptions, 'backoffBaseMs' | 'backoffMaxMs' | 'jitter'>,
  previousDelayMs: number | undefined,
  random: () => number = Math.random,
): number {
  const baseMs = Math.max(0, options.backoffBaseMs);
  const capMs = Math.max(0, options.backoffMaxMs);
  const exponentialMs = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  switch (options.jitter) {
    case 'none':
      return Math.round(exponentialMs);
    case 'full':
      return Math.round(random() * exponentialMs);
    case 'decorrelated': {
      const highMs = Math.max(baseMs, (previousDelayMs ?? baseMs) * 3);
      return Math.round(Math.min(capMs, baseMs + random() * (highMs - baseMs)));
    }
  }
}

/** Decides whether to retry a failed attempt, and after how long. Pure given `nowMs` and `random`. */
export function decideRetry(
  input: RetryInput,
  options: Readonly<RetryPolicyOptions> = DEFAULT_RETRY_POLICY,
): RetryDecision {
  const { failure, attempt } = input;
  let reason: string;
  let isRetryable: boolean;
  let retryAfterMs: number | undefined;
  let isRateLimited = false;

  switch (failure.kind) {
    case 'status':
      reason = describeStatus(failure.status);
      isRetryable = isRetryableStatus(failure.status);
      isRateLimited = failure.status === 429;
      retryAfterMs = parseRetryAfter(failure.retryAfter, input.nowMs ?? Date.now());
      break;
    case 'network':
      reason = `network error ${failure.code ?? '(no code)'}`;
      isRetryable = isRetryableNetworkCode(failure.code);
      break;
    case 'bodyCut':
      // Whatever broke the body, a new request may well get all of it.
      reason = `response body cut (${failure.code ?? 'no code'})`;
      isRetryable = true;
      break;
  }

  if (!isRetryable) return { action: 'fail', why: 'not-retryable', reason, retryAfterMs };
  if (attempt >= options.maxAttempts) return { action: 'fail', why: 'exhausted', reason, retryAfterMs };

  let delayMs: number;
  if (retryAfterMs !== undefined) {
    // The server knows its own window better than we do.
    delayMs = Math.min(retryAfterMs, Math.max(0, options.retryAfterMaxMs));
  } else {
    delayMs = backoffDelayMs(attempt, options, input.previousDelayMs, input.random);
    if (isRateLimited) delayMs = Math.max(delayMs, Math.ceil(input.rateLimitPeriodMs ?? 0));
  }
  if (input.deadlineMs !== undefined) {
    const remainingMs = input.deadlineMs - (input.nowMs ?? Date.now());
    // A backoff is cut short for one last attempt at the deadline; a wait that the server asked
    // for (429, Retry-After) is not, so that attempt could only be refused again.
    const mustWaitFully = isRateLimited || retryAfterMs !== undefined;
    if (remainingMs <= 0 || (mustWaitFully && delayMs > remainingMs)) return { action: 'fail', why: 'deadline', reason, retryAfterMs };
    delayMs = Math.min(delayMs, remainingMs);
  }
  return { action: 'retry', delayMs, reason, retryAfterMs, isRateLimited };
}
