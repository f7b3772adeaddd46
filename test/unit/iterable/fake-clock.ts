/** A manual clock for pure timing tests: `sleep` resolves only when `advance` passes its time. */
export class FakeClock {
  private nowMs = 0;
  private timers: Array<{ atMs: number; order: number; resolve: () => void }> = [];
  private nextOrder = 0;

  readonly now = (): number => this.nowMs;

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ atMs: this.nowMs + Math.max(0, ms), order: this.nextOrder++, resolve });
    });

  /** Number of sleeps not yet resolved. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in time order and letting promises settle. */
  async advance(ms: number): Promise<void> {
    const targetMs = this.nowMs + ms;
    await settle();
    for (;;) {
      this.timers.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
      const next = this.timers[0];
      if (!next || next.atMs > targetMs) break;
      this.timers.shift();
      this.nowMs = next.atMs;
      next.resolve();
      await settle();
    }
    this.nowMs = targetMs;
    await settle();
  }
}

/** Lets every queued promise callback run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
