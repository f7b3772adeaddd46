import { RATE_LIMITS, type RateLimit } from './rate-limits.js';
import type { EndpointFamily } from './types.js';

/** Options of `RateLimiter`; every one has a default. */
export interface RateLimiterOptions {
  /**
   * Divides every period (60 = a minute lasts a second). 0 or `Infinity` disables pacing;
   * penalties from `penalize` still apply. Default 1.
   */
  timeScale?: number;
  /** Limits per family. Default `RATE_LIMITS`. */
  limits?: Readonly<Record<EndpointFamily, RateLimit>>;
  /**
   * Share of the (scaled) period added to every window, against clock granularity and rounding
   * on either side (latency itself is covered by counting from the answer). Default 0.02.
   */
  safetyMarginRatio?: number;
  /** Lower bound of that margin, in ms (clock granularity does not shrink with the time scale). Default 10. */
  minSafetyMarginMs?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
  /**
   * Waits `ms`, or less when `signal` aborts (then resolves early). Default a `setTimeout`
   * promise that clears its timer on abort.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A wait this long (expected or already spent) is reported to the waiter's `onWait`. Default 10 s. */
  longWaitMs?: number;
  /** While a long wait lasts, it is reported again this often. Default 30 s (so at least once a minute). */
  waitReportIntervalMs?: number;
}

/** What a request of one family is waiting for, reported while the wait is long. */
export interface RateLimitWait {
  family: EndpointFamily;
  /** The family's limit (unscaled, as Iterable documents it). */
  limit: RateLimit;
  /** How long this request has waited so far. */
  waitedMs: number;
  /**
   * About how long it still waits: until the family's next free slot, plus one slot's share of
   * the window per request queued ahead. Null while every slot awaits an answer.
   */
  expectedMs: number | null;
  /** Requests of the family queued ahead of this one. */
  aheadCount: number;
}

/** Options of one `acquire`. */
export interface AcquireOptions {
  /** Called when the wait turns long (see `longWaitMs`) and then every `waitReportIntervalMs` until granted. */
  onWait?: (wait: RateLimitWait) => void;
  /** Aborting it leaves the queue: the acquire rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface Waiter {
  enqueuedAtMs: number;
  resolve: (waitedMs: number) => void;
  reject: (error: unknown) => void;
  onWait: ((wait: RateLimitWait) => void) | undefined;
  /** When to report the wait next (Infinity: never). */
  reportAtMs: number;
}

interface FamilyState {
  /** Requests granted and not yet answered: each holds a slot until its answer. */
  inFlight: number;
  /** When the last (at most N) answered requests were answered, oldest first. */
  answeredAtMs: number[];
  /** Nobody of the family starts before this (set by `penalize`). */
  blockedUntilMs: number;
  queue: Waiter[];
  isPumping: boolean;
  /** Wakes the pump from its pause (an answer arrived, or a waiter left). */
  wake: (() => void) | undefined;
}

/** Hands a wait to its reporter; a reporter that throws must not break the pacing of others. */
function report(onWait: (wait: RateLimitWait) => void, wait: RateLimitWait): void {
  try {
    onWait(wait);
  } catch {
    // best effort: a report is for people, the slot is what matters
  }
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Paces requests per endpoint family with a sliding window, so that Iterable never has to answer
 * 429. A request holds its slot from `acquire` until `release` (its answer arrived) plus one
 * window (period / timeScale + safety margin). Counting from the answer rather than from the send
 * makes the guarantee independent of latency: Iterable counted the old request before it
 * answered, and counts the new one after we send it, so the two are at least a window apart
 * on Iterable's clock too. Waiters of one family are served first come, first served.
 */
export class RateLimiter {
  private readonly families = new Map<EndpointFamily, FamilyState>();
  private readonly limits: Readonly<Record<EndpointFamily, RateLimit>>;
  private readonly isPacing: boolean;
  private readonly timeScale: number;
  private readonly safetyMarginRatio: number;
  private readonly minSafetyMarginMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly longWaitMs: number;
  private readonly waitReportIntervalMs: number;

  constructor(options: RateLimiterOptions = {}) {
    const timeScale = options.timeScale ?? 1;
    if (Number.isNaN(timeScale) || timeScale < 0) {
      throw new RangeError(`rateLimitTimeScale must be > 0, 0 or Infinity; got ${timeScale}`);
    }
    this.isPacing = timeScale > 0 && Number.isFinite(timeScale);
    this.timeScale = timeScale;
    this.limits = options.limits ?? RATE_LIMITS;
    this.safetyMarginRatio = options.safetyMarginRatio ?? 0.02;
    this.minSafetyMarginMs = options.minSafetyMarginMs ?? 10;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? defaultSleep;
    this.longWaitMs = options.longWaitMs ?? 10_000;
    this.waitReportIntervalMs = Math.max(1, options.waitReportIntervalMs ?? 30_000);
  }

  /** The family's period divided by the time scale; 0 when pacing is off. */
  scaledPeriodMs(family: EndpointFamily): number {
    return this.isPacing ? this.limits[family].periodMs / this.timeScale : 0;
  }

  /** The sliding window actually enforced: scaled period plus the safety margin. */
  windowMs(family: EndpointFamily): number {
    const periodMs = this.scaledPeriodMs(family);
    if (periodMs === 0) return 0;
    return periodMs + Math.max(this.minSafetyMarginMs, periodMs * this.safetyMarginRatio);
  }

  /**
   * Resolves when a request of `family` may start, with the milliseconds it waited. Concurrent
   * callers of one family get their slots in call order. Every acquire must be followed by one
   * `release` once the request has its answer (or failed). A long wait is reported to
   * `options.onWait`; an aborted `options.signal` takes the caller out of the queue.
   */
  acquire(family: EndpointFamily, options: AcquireOptions = {}): Promise<number> {
    const { signal, onWait } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const state = this.stateOf(family);
    const nowMs = this.now();
    if (state.queue.length === 0 && !state.isPumping && this.freeAtMs(family, state) <= nowMs) {
      this.grant(state);
      return Promise.resolve(0);
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        const index = state.queue.indexOf(waiter);
        if (index < 0) return;
        state.queue.splice(index, 1);
        reject(signal?.reason);
        state.wake?.(); // the pump may have nobody left to wait for
      };
      const waiter: Waiter = {
        enqueuedAtMs: nowMs,
        resolve: (waitedMs) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(waitedMs);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        onWait,
        reportAtMs: onWait ? nowMs + this.longWaitMs : Infinity,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      state.queue.push(waiter);
      if (onWait) {
        const wait = this.describeWait(family, state, waiter, nowMs);
        // A wait expected to be long is reported as it starts.
        if (wait.expectedMs !== null && wait.expectedMs >= this.longWaitMs) {
          waiter.reportAtMs = nowMs + this.waitReportIntervalMs;
          report(onWait, wait);
        }
      }
      if (!state.isPumping) void this.pump(family, state);
      else if (onWait) state.wake?.(); // the pump's pause may end after this waiter's first report
    });
  }

  /** Records that one request of `family` got its answer (or failed) now. */
  release(family: EndpointFamily): void {
    if (!this.isPacing) return;
    const state = this.stateOf(family);
    if (state.inFlight === 0) return;
    state.inFlight -= 1;
    const nowMs = this.now();
    const answered = state.answeredAtMs;
    let index = answered.length;
    while (index > 0 && (answered[index - 1] ?? 0) > nowMs) index -= 1; // keep sorted
    answered.splice(index, 0, nowMs);
    const excess = answered.length - this.limits[family].requests;
    if (excess > 0) answered.splice(0, excess);
    const { wake } = state;
    state.wake = undefined;
    wake?.();
  }

  /** Reacts to a 429: no request of `family` starts during the next `ms`. */
  penalize(family: EndpointFamily, ms: number): void {
    const state = this.stateOf(family);
    state.blockedUntilMs = Math.max(state.blockedUntilMs, this.now() + Math.max(0, ms));
  }

  /** Number of callers of `family` currently waiting. */
  waiting(family: EndpointFamily): number {
    return this.families.get(family)?.queue.length ?? 0;
  }

  private stateOf(family: EndpointFamily): FamilyState {
    let state = this.families.get(family);
    if (!state) {
      state = {
        inFlight: 0,
        answeredAtMs: [],
        blockedUntilMs: -Infinity,
        queue: [],
        isPumping: false,
        wake: undefined,
      };
      this.families.set(family, state);
    }
    return state;
  }

  /** Earliest time the next slot may be granted; Infinity while N requests await their answer. */
  private freeAtMs(family: EndpointFamily, state: FamilyState): number {
    if (!this.isPacing) return state.blockedUntilMs;
    const free = this.limits[family].requests - state.inFlight;
    if (free <= 0) return Infinity;
    const answered = state.answeredAtMs;
    if (answered.length < free) return state.blockedUntilMs;
    // Enough answered requests must have left the window to make room next to those in flight.
    const oldest = answered[answered.length - free] ?? -Infinity;
    return Math.max(state.blockedUntilMs, oldest + this.windowMs(family));
  }

  private grant(state: FamilyState): void {
    if (this.isPacing) state.inFlight += 1;
  }

  /** Serves the queue of one family in order; one pump per family runs at a time. */
  private async pump(family: EndpointFamily, state: FamilyState): Promise<void> {
    state.isPumping = true;
    try {
      while (state.queue.length > 0) {
        const nowMs = this.now();
        this.reportWaits(family, state, nowMs);
        const freeAtMs = this.freeAtMs(family, state);
        if (freeAtMs <= nowMs) {
          const waiter = state.queue.shift();
          if (!waiter) break;
          this.grant(state);
          waiter.resolve(nowMs - waiter.enqueuedAtMs);
          continue;
        }
        // Sleep until a slot frees or a report is due. Every slot awaiting an answer (freeAt
        // Infinity): only `release` can free one. Meanwhile a penalty can only move freeAt later,
        // and a release cannot move a finite freeAt earlier; we re-check on waking.
        const reportAtMs = Math.min(...state.queue.map((w) => w.reportAtMs));
        const untilMs = Math.min(freeAtMs, reportAtMs);
        await this.pause(state, untilMs === Infinity ? null : Math.max(0, untilMs - nowMs));
      }
    } catch (error) {
      for (const waiter of state.queue.splice(0)) waiter.reject(error);
    } finally {
      state.isPumping = false;
    }
  }

  /** Waits `ms` (until woken when null); `state.wake` ends the pause early. */
  private pause(state: FamilyState, ms: number | null): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const interrupt = new AbortController();
      const done = () => {
        if (state.wake === done) state.wake = undefined;
        interrupt.abort();
        resolve();
      };
      state.wake = done;
      if (ms !== null) this.sleep(ms, interrupt.signal).then(done, reject);
    });
  }

  /** Calls `onWait` of the waiters whose report is due. */
  private reportWaits(family: EndpointFamily, state: FamilyState, nowMs: number): void {
    for (const waiter of state.queue) {
      if (waiter.reportAtMs > nowMs || !waiter.onWait) continue;
      waiter.reportAtMs = nowMs + this.waitReportIntervalMs;
      report(waiter.onWait, this.describeWait(family, state, waiter, nowMs));
    }
  }

  private describeWait(family: EndpointFamily, state: FamilyState, waiter: Waiter, nowMs: number): RateLimitWait {
    const aheadCount = Math.max(0, state.queue.indexOf(waiter));
    const freeAtMs = this.freeAtMs(family, state);
    const slotShareMs = this.windowMs(family) / this.limits[family].requests;
    return {
      family,
      limit: this.limits[family],
      waitedMs: nowMs - waiter.enqueuedAtMs,
      expectedMs: freeAtMs === Infinity ? null : Math.max(0, freeAtMs - nowMs) + aheadCount * slotShareMs,
      aheadCount,
    };
  }
}
