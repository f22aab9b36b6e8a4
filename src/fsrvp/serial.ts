/**
 * Runs tasks one at a time in arrival order. FSRVP state is global and shared by every
 * connection (SAMBA.md §4); operations that read-modify-write it go through one queue.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  run<T>(task: () => Promise<T> | T): Promise<T> {
    this.pending++;
    const result = this.tail.then(task);
    this.tail = result.then(
      () => { this.pending--; },
      () => { this.pending--; },
    );
    return result;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }

  /** Resolves once every task queued so far has finished (and whatever they queued in turn). */
  async idle(): Promise<void> {
    while (this.pending > 0) await this.tail;
  }
}
