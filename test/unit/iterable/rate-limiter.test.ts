import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RateLimiter, type RateLimiterOptions } from '../../../src/iterable/rate-limiter.js';
import { RATE_LIMITS } from '../../../src/iterable/rate-limits.js';
import type { EndpointFamily } from '../../../src/iterable/types.js';
import { FakeClock, settle } from './fake-clock.js';

/** 4 per 100 ms for `export`, 2 per 100 ms for `listUsers`, no safety margin: easy arithmetic. */
const SMALL_LIMITS = {
  ...RATE_LIMITS,
  export: { requests: 4, periodMs: 100 },
  listUsers: { requests: 2, periodMs: 100 },
};

function makeLimiter(clock: FakeClock, options: RateLimiterOptions = {}): RateLimiter {
  return new RateLimiter({
    limits: SMALL_LIMITS,
    safetyMarginRatio: 0,
    minSafetyMarginMs: 0,
    now: clock.now,
    sleep: clock.sleep,
    ...options,
  });
}

/**
 * Starts a request that Iterable answers at once: records the fake time it was granted and the
 * reported wait, then releases its slot.
 */
function track(limiter: RateLimiter, clock: FakeClock, family: EndpointFamily, grants: Array<{ atMs: number; waitedMs: number }>): Promise<void> {
  return limiter.acquire(family).then((waitedMs) => {
    grants.push({ atMs: clock.now(), waitedMs });
    limiter.release(family);
  });
}

/** Acquires and releases at once (an instantly answered request); returns the wait. */
async function instant(limiter: RateLimiter, family: EndpointFamily): Promise<number> {
  const waitedMs = await limiter.acquire(family);
  limiter.release(family);
  return waitedMs;
}

describe('RateLimiter', () => {
  it('lets the first N requests through without waiting', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    for (let i = 0; i < 4; i += 1) assert.equal(await instant(limiter, 'export'), 0);
  });

  it('makes request N+1 wait until the oldest request leaves the window', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const all = Array.from({ length: 5 }, () => track(limiter, clock, 'export', grants));
    await settle();
    assert.equal(grants.length, 4);
    await clock.advance(99);
    assert.equal(grants.length, 4, 'still inside the window at 99 ms');
    await clock.advance(1);
    await Promise.all(all);
    assert.deepEqual(grants[4], { atMs: 100, waitedMs: 100 });
  });

  it('slides the window instead of resetting it at fixed boundaries', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    for (let i = 0; i < 4; i += 1) {
      await track(limiter, clock, 'export', grants);
      await clock.advance(10);
    }
    // grants at 0, 10, 20, 30; now = 40
    const later = [track(limiter, clock, 'export', grants), track(limiter, clock, 'export', grants)];
    await clock.advance(100);
    await Promise.all(later);
    assert.deepEqual(grants.map((g) => g.atMs), [0, 10, 20, 30, 100, 110]);
  });

  it('serves concurrent acquirers of one family first come, first served', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    const order: number[] = [];
    const all = Array.from({ length: 10 }, (_, index) =>
      limiter.acquire('listUsers').then(() => {
        order.push(index);
        limiter.release('listUsers');
      }),
    );
    await clock.advance(1000);
    await Promise.all(all);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('grants 2 per 100 ms to 10 concurrent acquirers: slots 0,0,100,100,...,400', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const all = Array.from({ length: 10 }, () => track(limiter, clock, 'listUsers', grants));
    await clock.advance(1000);
    await Promise.all(all);
    assert.deepEqual(grants.map((g) => g.atMs), [0, 0, 100, 100, 200, 200, 300, 300, 400, 400]);
    assert.deepEqual(grants.map((g) => g.waitedMs), [0, 0, 100, 100, 200, 200, 300, 300, 400, 400]);
  });

  it('never grants more than N requests in any window, whatever the arrival pattern', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 200; i += 1) {
      pending.push(track(limiter, clock, 'export', grants));
      await clock.advance(Math.floor(random() * 40));
    }
    await clock.advance(10_000);
    await Promise.all(pending);
    const grantTimes = grants.map((g) => g.atMs);
    assert.equal(grantTimes.length, 200);
    for (let i = 4; i < grantTimes.length; i += 1) {
      assert.ok(grantTimes[i]! - grantTimes[i - 4]! >= 100, `grants ${i - 4} and ${i} only ${grantTimes[i]! - grantTimes[i - 4]!} ms apart`);
    }
  });

  it('keeps families independent', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    for (let i = 0; i < 4; i += 1) await instant(limiter, 'export');
    const blocked = limiter.acquire('export');
    assert.equal(await instant(limiter, 'listUsers'), 0);
    assert.equal(await instant(limiter, 'campaigns'), 0);
    assert.equal(limiter.waiting('export'), 1);
    await clock.advance(100);
    assert.equal(await blocked, 100);
  });

  it('adds the safety margin: by default 2% of the period, at least 10 ms', () => {
    const limiter = new RateLimiter();
    assert.equal(limiter.windowMs('export'), 61_200);
    assert.equal(limiter.windowMs('campaigns'), 1020);
    const custom = new RateLimiter({ safetyMarginRatio: 0.1, minSafetyMarginMs: 0 });
    assert.equal(custom.windowMs('export'), 66_000);
  });

  it('waits the period plus the margin before the next export', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 4; i += 1) await instant(limiter, 'export');
    const fifth = limiter.acquire('export');
    let isGranted = false;
    void fifth.then(() => {
      isGranted = true;
    });
    await clock.advance(61_199);
    assert.equal(isGranted, false);
    await clock.advance(1);
    assert.equal(await fifth, 61_200);
  });

  it('divides periods by the time scale', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ timeScale: 60, now: clock.now, sleep: clock.sleep, minSafetyMarginMs: 0, safetyMarginRatio: 0 });
    assert.equal(limiter.scaledPeriodMs('export'), 1000);
    assert.equal(limiter.scaledPeriodMs('campaigns'), 1000 / 60);
    for (let i = 0; i < 4; i += 1) await instant(limiter, 'export');
    const fifth = limiter.acquire('export');
    await clock.advance(1000);
    assert.equal(await fifth, 1000);
  });

  for (const timeScale of [0, Infinity]) {
    it(`does not pace at all with time scale ${timeScale}`, async () => {
      const clock = new FakeClock();
      const limiter = new RateLimiter({ timeScale, now: clock.now, sleep: clock.sleep });
      assert.equal(limiter.scaledPeriodMs('export'), 0);
      assert.equal(limiter.windowMs('export'), 0);
      for (let i = 0; i < 100; i += 1) assert.equal(await limiter.acquire('export'), 0); // never released: no slots kept
      assert.equal(clock.pendingTimers, 0);
    });
  }

  it('still honours penalties when pacing is off', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ timeScale: 0, now: clock.now, sleep: clock.sleep });
    limiter.penalize('export', 500);
    const next = limiter.acquire('export');
    await clock.advance(500);
    assert.equal(await next, 500);
  });

  it('rejects a negative or NaN time scale', () => {
    assert.throws(() => new RateLimiter({ timeScale: -1 }), RangeError);
    assert.throws(() => new RateLimiter({ timeScale: Number.NaN }), RangeError);
  });

  it('holds back a penalized family, and only that family', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    limiter.penalize('export', 5000);
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const waiting = track(limiter, clock, 'export', grants);
    assert.equal(await instant(limiter, 'listUsers'), 0);
    await clock.advance(4999);
    assert.equal(grants.length, 0);
    await clock.advance(1);
    await waiting;
    assert.deepEqual(grants, [{ atMs: 5000, waitedMs: 5000 }]);
  });

  it('delays waiters already queued when a penalty arrives while they sleep', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    for (let i = 0; i < 4; i += 1) await instant(limiter, 'export');
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const queued = track(limiter, clock, 'export', grants); // would go at 100
    await clock.advance(50);
    limiter.penalize('export', 1000); // nobody before 1050
    await clock.advance(100);
    assert.equal(grants.length, 0, 'the penalty must hold back the sleeping waiter');
    await clock.advance(900);
    await queued;
    assert.deepEqual(grants, [{ atMs: 1050, waitedMs: 1050 }]);
  });

  it('never shortens an earlier, longer penalty', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    limiter.penalize('export', 1000);
    limiter.penalize('export', 10);
    const next = limiter.acquire('export');
    await clock.advance(1000);
    assert.equal(await next, 1000);
  });

  it('counts the window from when requests really started after a penalty', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    limiter.penalize('export', 1000);
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const all = Array.from({ length: 5 }, () => track(limiter, clock, 'export', grants));
    await clock.advance(2000);
    await Promise.all(all);
    assert.deepEqual(grants.map((g) => g.atMs), [1000, 1000, 1000, 1000, 1100]);
  });

  it('lets a new caller join behind queued ones rather than jump the queue', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    limiter.penalize('export', 100);
    const order: string[] = [];
    const first = instant(limiter, 'export').then(() => order.push('first'));
    await clock.advance(100); // the penalty is over, `first` is being granted
    const second = instant(limiter, 'export').then(() => order.push('second'));
    await clock.advance(0);
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first', 'second']);
  });

  it('fails queued waiters instead of hanging when sleeping throws', async () => {
    const limiter = new RateLimiter({
      limits: SMALL_LIMITS,
      sleep: () => Promise.reject(new Error('timer broken')),
      safetyMarginRatio: 0,
      minSafetyMarginMs: 0,
    });
    for (let i = 0; i < 4; i += 1) await instant(limiter, 'export');
    await assert.rejects(limiter.acquire('export'), /timer broken/);
  });

  it('counts a slow request from its answer, not from its start', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    await limiter.acquire('listUsers'); // slow: answered only at 500
    await instant(limiter, 'listUsers'); // answered at 0
    const third = limiter.acquire('listUsers'); // never answered in this test
    await clock.advance(100);
    assert.equal(await third, 100, 'the fast request frees its slot one window after its answer');
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const fourth = track(limiter, clock, 'listUsers', grants);
    await clock.advance(400);
    assert.equal(grants.length, 0, 'requests awaiting their answer hold their slots');
    limiter.release('listUsers'); // the slow one, at 500
    await clock.advance(99);
    assert.equal(grants.length, 0, 'the slow request holds its slot for one window after its answer');
    await clock.advance(1);
    await fourth;
    assert.deepEqual(grants, [{ atMs: 600, waitedMs: 500 }]);
  });

  it('waits for an answer when N requests are in flight, however long it takes', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    for (let i = 0; i < 4; i += 1) await limiter.acquire('export');
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const fifth = track(limiter, clock, 'export', grants);
    await clock.advance(10_000);
    assert.equal(grants.length, 0);
    assert.equal(clock.pendingTimers, 0, 'no timer while only an answer can free a slot');
    limiter.release('export'); // at 10 000
    await clock.advance(100);
    await fifth;
    assert.deepEqual(grants, [{ atMs: 10_100, waitedMs: 10_100 }]);
  });

  it('needs no particular order of answers', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    await limiter.acquire('listUsers');
    await limiter.acquire('listUsers');
    await clock.advance(10);
    limiter.release('listUsers');
    await clock.advance(40);
    limiter.release('listUsers'); // answers at 10 and 50
    const grants: Array<{ atMs: number; waitedMs: number }> = [];
    const next = [track(limiter, clock, 'listUsers', grants), track(limiter, clock, 'listUsers', grants)];
    await clock.advance(200);
    await Promise.all(next);
    assert.deepEqual(grants.map((g) => g.atMs), [110, 150]);
  });

  it('ignores a release without an acquire', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    limiter.release('export');
    for (let i = 0; i < 4; i += 1) await limiter.acquire('export');
    limiter.release('campaigns');
    let isGranted = false;
    void limiter.acquire('export').then(() => {
      isGranted = true;
    });
    await clock.advance(1000);
    assert.equal(isGranted, false);
  });
});

describe('RateLimiter: callers that stop waiting', () => {
  it('rejects a waiter whose signal aborts with its reason, keeps the order of the others, and leaves no timer behind', async () => {
    const limiter = new RateLimiter({ limits: { ...RATE_LIMITS, export: { requests: 1, periodMs: 60_000 } } });
    assert.equal(await limiter.acquire('export'), 0);
    limiter.release('export');
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const controller = new AbortController();
    const waiting = limiter.acquire('export', { signal: controller.signal });
    assert.equal(limiter.waiting('export'), 1);
    const refused = new Error('key refused');
    controller.abort(refused);
    await assert.rejects(waiting, (error) => error === refused);
    assert.equal(limiter.waiting('export'), 0);
    await new Promise((resolve) => setImmediate(resolve));
    // The pump's minute-long wait ended with its last waiter: nothing keeps the process alive.
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timersBefore);
    await assert.rejects(limiter.acquire('export', { signal: controller.signal }), (error) => error === refused, 'an aborted signal refuses at once');
  });

  it('serves the remaining waiters when one of them aborts', async () => {
    const clock = new FakeClock();
    const limiter = makeLimiter(clock);
    for (let i = 0; i < 4; i++) await instant(limiter, 'export');
    const controller = new AbortController();
    const order: string[] = [];
    const first = limiter.acquire('export', { signal: controller.signal }).catch(() => order.push('aborted'));
    const second = limiter.acquire('export').then(() => order.push('second'));
    controller.abort(new Error('stop'));
    await settle();
    clock.advance(100);
    await settle();
    await Promise.all([first, second]);
    assert.deepEqual(order, ['aborted', 'second']);
  });
});
