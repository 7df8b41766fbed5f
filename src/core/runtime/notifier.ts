/**
 * In-process wake-ups keyed by order id: a writer calls notify(order) after it
 * stored something; streams waiting on that order re-read their store. The
 * wait also ends after `maxWaitMs`, so a stream also sees what another
 * instance wrote to a shared database.
 */
export class Notifier {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(key: string): void {
    const set = this.waiters.get(key);
    if (set === undefined) return;
    this.waiters.delete(key);
    for (const wake of set) wake();
  }

  wait(key: string, signal: AbortSignal, maxWaitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.waiters.get(key)?.delete(done);
        if (this.waiters.get(key)?.size === 0) this.waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      signal.addEventListener("abort", done, { once: true });
      set.add(done);
      if (signal.aborted) done();
    });
  }

  /** How many waiters are registered (for leak checks in tests). */
  get size(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }
}
