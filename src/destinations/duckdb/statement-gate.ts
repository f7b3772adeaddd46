/**
 * A readers-writer lock over the statements of one DuckDB instance: statements run side by side
 * (`shared`), and an `exclusive` section runs while none does. Waiting exclusive sections go first,
 * so that a steady flow of statements cannot keep them waiting.
 */
export class StatementGate {
  private running = 0;
  private exclusiveRunning = false;
  private readonly waitingShared: (() => void)[] = [];
  private readonly waitingExclusive: (() => void)[] = [];

  async shared<T>(work: () => Promise<T>): Promise<T> {
    if (this.exclusiveRunning || this.waitingExclusive.length > 0) {
      await new Promise<void>((resolve) => this.waitingShared.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      this.running--;
      this.next();
    }
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.exclusiveRunning || this.running > 0 || this.waitingExclusive.length > 0) {
      await new Promise<void>((resolve) => this.waitingExclusive.push(resolve));
    } else {
      this.exclusiveRunning = true;
    }
    try {
      return await work();
    } finally {
      this.exclusiveRunning = false;
      this.next();
    }
  }

  /** Lets the next waiters in: one exclusive section when nothing runs, else every waiting statement. */
  private next(): void {
    if (this.exclusiveRunning || this.running > 0) return;
    const exclusive = this.waitingExclusive.shift();
    if (exclusive !== undefined) {
      this.exclusiveRunning = true;
      exclusive();
      return;
    }
    const shared = this.waitingShared.splice(0);
    this.running += shared.length;
    for (const resolve of shared) resolve();
  }
}
