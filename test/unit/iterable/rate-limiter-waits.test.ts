import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RateLimiter, type RateLimitWait, type RateLimiterOptions } from '../../../src/iterable/rate-limiter.js';
import { RATE_LIMITS } from '../../../src/iterable/rate-limits.js';
import { FakeClock, settle } from './fake-clock.js';

/** 4 per 100 ms for `export`, no safety margin: easy arithmetic. */
const LIMITS = { ...RATE_LIMITS, export: { requests: 4, periodMs: 100 } };

function makeLimiter(clock: FakeClock, options: RateLimiterOptions = {}): RateLimiter {
  return new RateLimiter({ limits: LIMITS, safetyMarginRatio: 0, minSafetyMarginMs: 0, now: clock.now, sleep: clock.sleep, ...options });
}

async function fillExportSlots(limiter: RateLimiter): Promise<void> {
  for (let i = 0; i < 4; i += 1) {
    await limiter.acquire('export');
    limiter.release('export');
  }
}

/** The reports as `[time, waitedMs, expectedMs, aheadCount]`. */
function recorder(clock: FakeClock): { reports: Array<[number, number, number | null, number]>; onWait: (wait: RateLimitWait) => void } {
  const reports: Array<[number, number, number | null, number]> = [];
  return { reports, onWait: (wait) => reports.push([clock.now(), wait.waitedMs, wait.expectedMs, wait.aheadCount]) };
}

describe('RateLimiter: reporting long waits', () => {
  it('reports a wait expected to be long as it starts, then every interval until the slot comes', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock, { longWaitMs: 50, waitReportIntervalMs: 30 });
    await fillExportSlots(limiter);
    const { reports, onWait } = recorder(clock);
    const granted = limiter.acquire('export', { onWait });
    await clock.advance(99);
    assert.deepEqual(reports, [
      [0, 0, 100, 0],
      [30, 30, 70, 0],
      [60, 60, 40, 0],
      [90, 90, 10, 0],
    ]);
    await clock.advance(1);
    assert.equal(await granted, 100);
    await clock.advance(1000);
    assert.equal(reports.length, 4, 'no report once granted');
  });

  it('keeps quiet about a short wait', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock, { longWaitMs: 200, waitReportIntervalMs: 30 });
    await fillExportSlots(limiter);
    const { reports, onWait } = recorder(clock);
    const granted = limiter.acquire('export', { onWait });
    await clock.advance(100);
    assert.equal(await granted, 100);
    assert.deepEqual(reports, []);
  });

  it('reports a wait of unknown length once it has lasted longWaitMs (every slot awaits its answer)', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock, { longWaitMs: 50, waitReportIntervalMs: 1000 });
    for (let i = 0; i < 4; i += 1) await limiter.acquire('export'); // never answered yet
    const { reports, onWait } = recorder(clock);
    const granted = limiter.acquire('export', { onWait });
    await clock.advance(49);
    assert.deepEqual(reports, []);
    await clock.advance(1);
    assert.deepEqual(reports, [[50, 50, null, 0]]);
    limiter.release('export');
    await clock.advance(100);
    assert.equal(await granted, 150);
  });

  it('counts the requests queued ahead in the expected wait', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock, { longWaitMs: 0, waitReportIntervalMs: 1000 });
    await fillExportSlots(limiter);
    const first = recorder(clock);
    const second = recorder(clock);
    const a = limiter.acquire('export', { onWait: first.onWait });
    const b = limiter.acquire('export', { onWait: second.onWait });
    assert.deepEqual(first.reports, [[0, 0, 100, 0]]);
    assert.deepEqual(second.reports, [[0, 0, 125, 1]], 'one request ahead: a quarter of the window later');
    await clock.advance(100);
    assert.deepEqual(await Promise.all([a, b]), [100, 100]);
  });

  it('with the default settings, reports a minutes-long export wait at its start and at least once a minute', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 4; i += 1) {
      await limiter.acquire('export');
      limiter.release('export');
    }
    const waits: RateLimitWait[] = [];
    const times: number[] = [];
    const queued = Array.from({ length: 8 }, () => limiter.acquire('export').then(() => limiter.release('export')));
    const last = limiter.acquire('export', { onWait: (wait) => (waits.push(wait), times.push(clock.now())) });
    await clock.advance(10 * 60_000);
    await Promise.all([...queued, last]);
    assert.equal(times[0], 0, 'reported as it starts');
    assert.equal(waits[0]!.aheadCount, 8);
    assert.ok(waits[0]!.expectedMs! >= 120_000, `expected ${waits[0]!.expectedMs} ms: two more windows`);
    assert.equal(waits[0]!.family, 'export');
    assert.deepEqual(waits[0]!.limit, { requests: 4, periodMs: 60_000 });
    for (let i = 1; i < times.length; i += 1) assert.ok(times[i]! - times[i - 1]! <= 60_000, `gap ${times[i]! - times[i - 1]!} ms`);
    assert.ok(times.length >= 4, `${times.length} reports over a wait of more than two minutes`);
  });

  it('keeps pacing when a reporter throws', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock, { longWaitMs: 0, waitReportIntervalMs: 10 });
    await fillExportSlots(limiter);
    const a = limiter.acquire('export', {
      onWait: () => {
        throw new Error('broken reporter');
      },
    });
    const b = limiter.acquire('export');
    await clock.advance(100);
    assert.deepEqual(await Promise.all([a, b]), [100, 100]);
  });
});

describe('RateLimiter: leaving the queue', () => {
  it('rejects an aborted waiter with the reason and serves the next one in its place', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    await fillExportSlots(limiter);
    const controller = new AbortController();
    const a = limiter.acquire('export', { signal: controller.signal });
    const b = limiter.acquire('export');
    await clock.advance(50);
    controller.abort(new Error('stopped'));
    await assert.rejects(a, /stopped/);
    await clock.advance(50);
    assert.equal(await b, 100);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = new RateLimiter();
    await assert.rejects(limiter.acquire('export', { signal: AbortSignal.abort(new Error('too late')) }), /too late/);
  });

  it('leaves no timer behind once the last waiter left (a stopped run can exit at once)', async () => {
    const limiter = new RateLimiter({ limits: { ...RATE_LIMITS, export: { requests: 1, periodMs: 3_600_000 } } });
    await limiter.acquire('export');
    limiter.release('export');
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const controller = new AbortController();
    const waiting = limiter.acquire('export', { signal: controller.signal, onWait: () => undefined });
    await settle();
    assert.ok(timers() > before, 'the pump sleeps on a timer');
    controller.abort(new Error('stopped'));
    await assert.rejects(waiting, /stopped/);
    await settle();
    assert.equal(timers(), before);
  });
});
