import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  decideRetry,
  describeStatus,
  errorCodeOf,
  isRetryableNetworkCode,
  isRetryableStatus,
  parseRetryAfter,
  type AttemptFailure,
  type RetryDecision,
  type RetryPolicyOptions,
} from '../../../src/iterable/retry-policy.js';

const NOW_MS = Date.parse('2024-05-01T12:00:00Z');

const POLICY: RetryPolicyOptions = {
  maxAttempts: 5,
  backoffBaseMs: 100,
  backoffMaxMs: 1000,
  retryAfterMaxMs: 5000,
  jitter: 'none',
};

function decide(
  failure: AttemptFailure,
  overrides: Partial<Parameters<typeof decideRetry>[0]> = {},
  policy: RetryPolicyOptions = POLICY,
): RetryDecision {
  return decideRetry({ attempt: 1, failure, nowMs: NOW_MS, random: () => 0.5, ...overrides }, policy);
}

function delayOf(decision: RetryDecision): number {
  assert.equal(decision.action, 'retry', `expected a retry, got ${JSON.stringify(decision)}`);
  return decision.action === 'retry' ? decision.delayMs : Number.NaN;
}

const status = (code: number, retryAfter?: string): AttemptFailure => ({ kind: 'status', status: code, retryAfter });
const network = (code: string | undefined): AttemptFailure => ({ kind: 'network', code });

describe('decideRetry: what is retried', () => {
  for (const code of [408, 429, 500, 502, 503, 504]) {
    it(`retries status ${code}`, () => {
      assert.equal(decide(status(code)).action, 'retry');
      assert.equal(isRetryableStatus(code), true);
    });
  }

  for (const code of [301, 302, 400, 401, 403, 404, 405, 409, 413, 422, 501, 505]) {
    it(`never retries status ${code}`, () => {
      const decision = decide(status(code));
      assert.deepEqual(decision.action === 'fail' && decision.why, 'not-retryable');
      assert.equal(isRetryableStatus(code), false);
    });
  }

  it('does not retry a 401 even when it carries Retry-After', () => {
    const decision = decide(status(401, '1'));
    assert.equal(decision.action, 'fail');
    assert.equal(decision.retryAfterMs, 1000);
  });

  for (const code of [
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
    'ERR_STREAM_PREMATURE_CLOSE',
    'HPE_INVALID_CHUNK_SIZE',
  ]) {
    it(`retries network error ${code}`, () => {
      assert.equal(decide(network(code)).action, 'retry');
      assert.equal(isRetryableNetworkCode(code), true);
    });
  }

  for (const code of ['ENOTFOUND', 'UND_ERR_ABORTED', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_INVALID_ARG', 'CERT_HAS_EXPIRED', undefined]) {
    it(`does not retry network error ${code ?? '(no code)'}`, () => {
      const decision = decide(network(code));
      assert.deepEqual(decision.action === 'fail' && decision.why, 'not-retryable');
    });
  }

  it('retries a body cut mid-stream whatever its code', () => {
    assert.equal(decide({ kind: 'bodyCut', code: 'UND_ERR_SOCKET' }).action, 'retry');
    assert.equal(decide({ kind: 'bodyCut', code: undefined }).action, 'retry');
    assert.equal(decide({ kind: 'bodyCut', code: 'SOMETHING_NEW' }).action, 'retry');
  });

  it('names the reason', () => {
    assert.equal(decide(status(503)).reason, '503 Service Unavailable');
    assert.equal(decide(network('ECONNRESET')).reason, 'network error ECONNRESET');
    assert.equal(decide({ kind: 'bodyCut', code: 'UND_ERR_SOCKET' }).reason, 'response body cut (UND_ERR_SOCKET)');
  });

  it('marks only a 429 as rate limited', () => {
    const limited = decide(status(429));
    assert.ok(limited.action === 'retry' && limited.isRateLimited);
    const unavailable = decide(status(503));
    assert.ok(unavailable.action === 'retry' && !unavailable.isRateLimited);
  });
});

describe('decideRetry: attempts', () => {
  it('retries until the last attempt, then reports exhaustion', () => {
    for (let attempt = 1; attempt < POLICY.maxAttempts; attempt += 1) {
      assert.equal(decide(status(500), { attempt }).action, 'retry', `attempt ${attempt}`);
    }
    const last = decide(status(500), { attempt: POLICY.maxAttempts });
    assert.deepEqual(last.action === 'fail' && last.why, 'exhausted');
  });

  it('never retries with maxAttempts 1', () => {
    const decision = decide(status(503), {}, { ...POLICY, maxAttempts: 1 });
    assert.deepEqual(decision.action === 'fail' && decision.why, 'exhausted');
  });

  it('reports a non-retryable status as such even on the last attempt', () => {
    const decision = decide(status(400), { attempt: POLICY.maxAttempts });
    assert.deepEqual(decision.action === 'fail' && decision.why, 'not-retryable');
  });

  it('gives up after the 8th attempt by default', () => {
    assert.equal(decideRetry({ attempt: 7, failure: status(500) }).action, 'retry');
    assert.equal(decideRetry({ attempt: 8, failure: status(500) }).action, 'fail');
  });
});

describe('decideRetry: backoff', () => {
  it('doubles the delay per attempt without jitter, up to the cap', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) =>
      delayOf(decide(status(500), { attempt }, { ...POLICY, maxAttempts: 10 })),
    );
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  });

  it('full jitter draws uniformly between 0 and the exponential delay', () => {
    const options = { ...POLICY, jitter: 'full' as const };
    assert.equal(delayOf(decide(status(500), { attempt: 3, random: () => 0 }, options)), 0);
    assert.equal(delayOf(decide(status(500), { attempt: 3, random: () => 0.5 }, options)), 200);
    assert.equal(delayOf(decide(status(500), { attempt: 3, random: () => 0.999999 }, options)), 400);
    assert.equal(delayOf(decide(status(500), { attempt: 9, random: () => 0.999999 }, { ...options, maxAttempts: 10 })), 1000);
  });

  it('decorrelated jitter stays between base and 3 x the previous delay, capped', () => {
    const options = { ...POLICY, jitter: 'decorrelated' as const };
    assert.equal(delayOf(decide(status(500), { random: () => 0 }, options)), 100);
    assert.equal(delayOf(decide(status(500), { random: () => 0.999999 }, options)), 300);
    assert.equal(delayOf(decide(status(500), { attempt: 2, previousDelayMs: 200, random: () => 0.5 }, options)), 350);
    assert.equal(delayOf(decide(status(500), { attempt: 3, previousDelayMs: 900, random: () => 0.999999 }, options)), 1000);
    assert.equal(delayOf(decide(status(500), { attempt: 3, previousDelayMs: 900, random: () => 0 }, options)), 100);
  });

  it('decorrelated delays never fall below the base nor exceed the cap over many draws', () => {
    let previousDelayMs: number | undefined;
    for (let attempt = 1; attempt < 200; attempt += 1) {
      const delayMs = backoffDelayMs(attempt, { ...POLICY, jitter: 'decorrelated' }, previousDelayMs);
      assert.ok(delayMs >= 100 && delayMs <= 1000, `delay ${delayMs}`);
      previousDelayMs = delayMs;
    }
  });

  it('uses Math.random when no random source is given', () => {
    for (let i = 0; i < 50; i += 1) {
      const delayMs = delayOf(decideRetry({ attempt: 2, failure: status(502) }, { ...POLICY, jitter: 'full' }));
      assert.ok(delayMs >= 0 && delayMs <= 200);
    }
  });

  it('handles a zero base (tests) without negative or NaN delays', () => {
    assert.equal(delayOf(decide(status(500), {}, { ...POLICY, backoffBaseMs: 0, jitter: 'decorrelated' })), 0);
    assert.equal(delayOf(decide(status(500), {}, { ...POLICY, backoffBaseMs: 0, jitter: 'full' })), 0);
  });
});

describe('decideRetry: Retry-After and 429', () => {
  it('honours Retry-After in seconds instead of the backoff', () => {
    const decision = decide(status(503, '3'));
    assert.equal(delayOf(decision), 3000);
    assert.equal(decision.retryAfterMs, 3000);
  });

  it('honours Retry-After 0 as an immediate retry', () => {
    assert.equal(delayOf(decide(status(429, '0'), { rateLimitPeriodMs: 60_000 })), 0);
  });

  it('honours Retry-After as an HTTP date', () => {
    const at = new Date(NOW_MS + 4000).toUTCString();
    assert.equal(delayOf(decide(status(429, at))), 4000);
  });

  it('treats a Retry-After date in the past as "now"', () => {
    const at = new Date(NOW_MS - 60_000).toUTCString();
    assert.equal(delayOf(decide(status(503, at))), 0);
  });

  it('caps a long Retry-After at retryAfterMaxMs', () => {
    assert.equal(delayOf(decide(status(429, '3600'))), 5000);
    const far = new Date(NOW_MS + 86_400_000).toUTCString();
    assert.equal(delayOf(decide(status(503, far))), 5000);
  });

  it('falls back to the backoff when Retry-After is unreadable', () => {
    assert.equal(delayOf(decide(status(503, 'soon'))), 100);
    assert.equal(delayOf(decide(status(503, '-5'))), 100);
  });

  it('waits at least the family period after a 429 without Retry-After', () => {
    assert.equal(delayOf(decide(status(429), { rateLimitPeriodMs: 60_000 })), 60_000);
    assert.equal(delayOf(decide(status(429), { rateLimitPeriodMs: 1000 / 60 })), 100);
  });

  it('keeps a longer backoff over the family period after repeated 429s', () => {
    assert.equal(delayOf(decide(status(429), { attempt: 4, rateLimitPeriodMs: 50 })), 800);
  });

  it('does not apply the family period to other statuses', () => {
    assert.equal(delayOf(decide(status(503), { rateLimitPeriodMs: 60_000 })), 100);
  });

  it('trusts a Retry-After on a 429 over the family period', () => {
    assert.equal(delayOf(decide(status(429, '2'), { rateLimitPeriodMs: 60_000 })), 2000);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('120', NOW_MS), 120_000);
    assert.equal(parseRetryAfter(' 5 ', NOW_MS), 5000);
    assert.equal(parseRetryAfter('0', NOW_MS), 0);
    assert.equal(parseRetryAfter('1.5', NOW_MS), 1500);
  });

  it('reads an HTTP date relative to now', () => {
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', NOW_MS), 30_000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', NOW_MS), 0);
  });

  it('ignores absent or unreadable values', () => {
    for (const value of [undefined, null, '', '   ', 'soon', '-1', '7 seconds', '1e3', 'NaN']) {
      assert.equal(parseRetryAfter(value, NOW_MS), undefined, String(value));
    }
  });

  it('uses the current time by default', () => {
    const value = new Date(Date.now() + 10_000).toUTCString();
    const ms = parseRetryAfter(value);
    assert.ok(ms !== undefined && ms > 8000 && ms <= 10_000, String(ms));
  });
});

describe('errorCodeOf', () => {
  it('reads the code of the error, its cause or its inner errors', () => {
    assert.equal(errorCodeOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'ECONNRESET');
    assert.equal(
      errorCodeOf(new TypeError('fetch failed', { cause: Object.assign(new Error('y'), { code: 'UND_ERR_SOCKET' }) })),
      'UND_ERR_SOCKET',
    );
    const aggregate = new AggregateError([Object.assign(new Error('z'), { code: 'ECONNREFUSED' })], 'all failed');
    assert.equal(errorCodeOf(aggregate), 'ECONNREFUSED');
  });

  it('gives undici\'s code-less HTTPParserError a retryable code', () => {
    const parserError = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), { name: 'HTTPParserError', code: undefined });
    assert.equal(errorCodeOf(parserError), 'HPE_PARSER_ERROR');
    assert.equal(isRetryableNetworkCode(errorCodeOf(parserError)), true);
  });

  it('returns undefined when there is no code', () => {
    assert.equal(errorCodeOf(new Error('plain')), undefined);
    assert.equal(errorCodeOf('text'), undefined);
    assert.equal(errorCodeOf(null), undefined);
  });

  it('does not loop on a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(errorCodeOf(a), undefined);
  });
});

describe('describeStatus', () => {
  it('adds the reason phrase', () => {
    assert.equal(describeStatus(429), '429 Too Many Requests');
    assert.equal(describeStatus(599), '599');
  });
});

describe('decideRetry: deadline', () => {
  const failure = { kind: 'status', status: 500 } as const;
  const policy = { ...DEFAULT_RETRY_POLICY, jitter: 'none' as const };

  it('cuts a backoff short to make one last attempt at the deadline, then fails with `deadline`', () => {
    // Attempt 3 waits base·2² = 4000 ms.
    const before = decideRetry({ attempt: 3, failure, nowMs: 10_000, deadlineMs: 14_000 }, policy);
    assert.equal(before.action === 'retry' && before.delayMs, 4000);
    const cut = decideRetry({ attempt: 3, failure, nowMs: 12_500, deadlineMs: 14_000 }, policy);
    assert.equal(cut.action === 'retry' && cut.delayMs, 1500);
    const after = decideRetry({ attempt: 4, failure, nowMs: 14_000, deadlineMs: 14_000 }, policy);
    assert.deepEqual(after, { action: 'fail', why: 'deadline', reason: '500 Internal Server Error', retryAfterMs: undefined });
  });

  it('does not cut a wait the server asked for: a 429 that would end after the deadline fails at once', () => {
    const decision = decideRetry({ attempt: 1, failure: { kind: 'status', status: 429, retryAfter: '30' }, nowMs: 0, deadlineMs: 10_000 }, policy);
    assert.equal(decision.action === 'fail' && decision.why, 'deadline');
    const inTime = decideRetry({ attempt: 1, failure: { kind: 'status', status: 429, retryAfter: '5' }, nowMs: 0, deadlineMs: 10_000 }, policy);
    assert.equal(inTime.action === 'retry' && inTime.delayMs, 5000);
  });

  it('still fails what is not retryable as not-retryable, whatever the deadline', () => {
    const decision = decideRetry({ attempt: 1, failure: { kind: 'status', status: 401 }, nowMs: 0, deadlineMs: 0 }, policy);
    assert.equal(decision.action === 'fail' && decision.why, 'not-retryable');
  });
});
