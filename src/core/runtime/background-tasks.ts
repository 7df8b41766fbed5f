import type { Logger } from "./logger.js";

/**
 * Background work of a role (emission, pool and array filling), one task per
 * key at most, each with its own abort signal so closing an order or shutting
 * the server down stops it.
 */
export class BackgroundTasks {
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private stopped = false;

  constructor(private readonly log: Logger) {}

  /**
   * Starts `work` under `key` unless a task with that key is already running,
   * or stopAll() was called: a stopping instance leaves new work to the others.
   */
  start(key: string, work: (signal: AbortSignal) => Promise<void>): void {
    if (this.stopped || this.running.has(key)) return;
    const abort = new AbortController();
    const done = work(abort.signal)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) this.log.error({ task: key, err }, "background task failed");
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, { abort, done });
  }

  /** Whether a task runs under `key`. */
  has(key: string): boolean {
    return this.running.has(key);
  }

  async stop(key: string): Promise<void> {
    const task = this.running.get(key);
    if (task === undefined) return;
    task.abort.abort();
    await task.done;
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running.keys()].map((k) => this.stop(k)));
  }
}
