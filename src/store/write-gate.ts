/**
 * Lets at most `limit` tasks run at once and starts the others in the order
 * they came, urgent ones first. On FerretDB's SQLite backend a database is
 * one file with one writer at a time, and writers that find it taken poll
 * with growing sleeps (up to 100 ms each): of forty writes at once, the
 * unlucky ones waited 0.4–1.7 s while others went by. Queued here instead,
 * in order, with a few in flight so the file is never idle between one
 * write and the next, the p99 of the same writes was 45–70 ms, at about the
 * same rate.
 *
 * Urgent tasks are those a call waits for (see MongoStore); under the load
 * of 16 orders a CreateOrder's claim waited up to 2.8 s here behind the
 * progress updates of blocks. They pass the ordinary ones, which still get
 * one slot in every URGENT_RUN + 1, so no queue waits for good.
 */
export class WriteGate {
  private running = 0;
  private readonly urgent: (() => void)[] = [];
  private readonly ordinary: (() => void)[] = [];
  /** Urgent tasks started in a row while ordinary ones waited. */
  private passed = 0;

  constructor(private readonly limit: number) {}

  async run<R>(task: () => Promise<R>, urgent = false): Promise<R> {
    if (this.running >= this.limit) await new Promise<void>((start) => (urgent ? this.urgent : this.ordinary).push(start));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.next();
      // The slot passes to the next task in line; none waiting, it is free.
      if (next === undefined) this.running--;
      else next();
    }
  }

  private next(): (() => void) | undefined {
    if (this.ordinary.length === 0 || (this.urgent.length > 0 && this.passed < URGENT_RUN)) {
      const next = this.urgent.shift();
      if (next !== undefined && this.ordinary.length > 0) this.passed++;
      return next ?? this.ordinary.shift();
    }
    this.passed = 0;
    return this.ordinary.shift();
  }

  /** Tasks running (for tests). */
  get inFlight(): number {
    return this.running;
  }

  /** Tasks waiting for a slot (for tests). */
  get queued(): number {
    return this.urgent.length + this.ordinary.length;
  }
}

/** Urgent tasks that may start in a row while ordinary ones wait. */
export const URGENT_RUN = 4;
