/**
 * Bounds the time one unit of work (an export window, with its retries, rate-limit waits and
 * re-reads in smaller windows) may spend failing. The clock starts at the unit's first failure;
 * a unit that succeeds starts the next one with a new budget.
 */
export class FailureBudget {
  private firstFailureAtMs: number | undefined;
  private isGivenUp = false;

  constructor(
    /** How long the unit may keep failing, in ms. */
    readonly limitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Notes a failure; the first one starts the clock. */
  recordFailure(): void {
    this.firstFailureAtMs ??= this.now();
  }

  /** When the unit must give up (ms since the epoch); undefined before its first failure. */
  get deadlineMs(): number | undefined {
    return this.firstFailureAtMs === undefined ? undefined : this.firstFailureAtMs + this.limitMs;
  }

  /** True once the unit has been failing for `limitMs`, or a retry was given up for lack of time. */
  get isSpent(): boolean {
    const deadline = this.deadlineMs;
    return this.isGivenUp || (deadline !== undefined && this.now() >= deadline);
  }

  /** Marks the budget spent: the next wait would have ended after the deadline. */
  giveUp(): void {
    this.recordFailure();
    this.isGivenUp = true;
  }

  /** Milliseconds until the deadline (never negative); undefined before the first failure. */
  remainingMs(): number | undefined {
    const deadline = this.deadlineMs;
    return deadline === undefined ? undefined : Math.max(0, deadline - this.now());
  }
}
