/**
 * Lets at most `limit` tasks run at once and starts the others in the order
 * they came. On FerretDB's SQLite backend a database is one file with one
 * writer at a time, and writers that find it taken poll with growing sleeps
 * (up to 100 ms each): of forty writes at once, the unlucky ones waited
 * 0.4–1.7 s while others went by. Queued here instead, in order, with a few
 * in flight so the file is never idle between one write and the next, the
 * p99 of the same writes was 45–70 ms, at about the same rate.
 */
export class WriteGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<R>(task: () => Promise<R>): Promise<R> {
    if (this.running >= this.limit) await new Promise<void>((start) => this.waiting.push(start));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes to the next task in line; none waiting, it is free.
      if (next === undefined) this.running--;
      else next();
    }
  }

  /** Tasks running (for tests). */
  get inFlight(): number {
    return this.running;
  }

  /** Tasks waiting for a slot (for tests). */
  get queued(): number {
    return this.waiting.length;
  }
}
