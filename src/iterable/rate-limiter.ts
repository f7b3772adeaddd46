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
   * promise that honours the signal.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Waiter {
  enqueuedAtMs: number;
  resolve: (waitedMs: number) => void;
  reject: (error: unknown) => void;
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
  /** Wakes the pump when it waits for an answer rather than for a time. */
  wake: (() => void) | undefined;
  /** Ends the pump's timed wait early (when its last waiter left), so no timer outlives the queue. */
  stopSleep: AbortController | undefined;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
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
   * `release` once the request has its answer (or failed). When `signal` aborts first, the caller
   * leaves the queue at once and the promise rejects with the signal's reason (no slot is taken).
   */
  acquire(family: EndpointFamily, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const state = this.stateOf(family);
    const nowMs = this.now();
    if (state.queue.length === 0 && !state.isPumping && this.freeAtMs(family, state) <= nowMs) {
      this.grant(state);
      return Promise.resolve(0);
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { enqueuedAtMs: nowMs, resolve, reject };
      if (signal) {
        const onAbort = () => {
          const index = state.queue.indexOf(waiter);
          if (index >= 0) state.queue.splice(index, 1);
          if (state.queue.length === 0) {
            // Nobody left to serve: let the pump end now rather than after its wait.
            state.stopSleep?.abort();
            const { wake } = state;
            state.wake = undefined;
            wake?.();
          }
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = () => signal.removeEventListener('abort', onAbort);
        waiter.resolve = (waitedMs) => {
          settle();
          resolve(waitedMs);
        };
        waiter.reject = (error) => {
          settle();
          reject(error);
        };
      }
      state.queue.push(waiter);
      if (!state.isPumping) void this.pump(family, state);
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
        stopSleep: undefined,
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
        const freeAtMs = this.freeAtMs(family, state);
        if (freeAtMs === Infinity) {
          // Every slot awaits an answer; only `release` can free one.
          await new Promise<void>((resolve) => {
            state.wake = resolve;
          });
          continue;
        }
        if (freeAtMs > nowMs) {
          // Meanwhile a penalty can only move freeAt later, and a release cannot move a finite
          // freeAt earlier; we re-check on waking.
          const stop = new AbortController();
          state.stopSleep = stop;
          try {
            await this.sleep(freeAtMs - nowMs, stop.signal);
          } finally {
            state.stopSleep = undefined;
          }
          continue;
        }
        const waiter = state.queue.shift();
        if (!waiter) break;
        this.grant(state);
        waiter.resolve(nowMs - waiter.enqueuedAtMs);
      }
    } catch (error) {
      for (const waiter of state.queue.splice(0)) waiter.reject(error);
    } finally {
      state.isPumping = false;
    }
  }
}
