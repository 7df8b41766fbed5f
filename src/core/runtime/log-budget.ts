/**
 * A token bucket per kind of log line: a burst, then a steady trickle, and a
 * count of the lines left out on the next one let through. Refusals a client
 * can cause at will (no token, a forbidden method, a reset stream) are logged
 * through it, so a hostile client cannot fill the disk with our logs.
 */
export class LogBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number; dropped: number }>();

  /** Keys must come from a small fixed set (a gRPC code, a step), never from a caller. */
  constructor(
    private readonly burst = 10,
    private readonly perSecond = 1,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: leave this line out; else how many lines of this kind were left out since the last one. */
  take(key: string): number | undefined {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t, dropped: 0 };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1_000) * this.perSecond);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens < 1) {
      b.dropped += 1;
      return undefined;
    }
    b.tokens -= 1;
    const dropped = b.dropped;
    b.dropped = 0;
    return dropped;
  }
}
