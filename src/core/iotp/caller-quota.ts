/**
 * Stored replies one caller may have: a line controller (caller "apcs:<participant>")
 * and the role above (one caller for all the participants it serves).
 */
export interface ReplyQuota {
  perParticipant: number;
  perRole: number;
}

/**
 * How often a caller's stored replies are counted while it is well below its
 * quota; what other instances store meanwhile goes unseen for that long,
 * which the headroom covers (it is a bound against floods, not a bill).
 */
const QUOTA_RECOUNT_MS = 2_000;
/**
 * How often below half its quota: a count scans every stored reply on FerretDB
 * (it cannot use the caller index), one scan per caller, and the replies are
 * a hop's largest collection; far from the quota a stale count risks nothing.
 */
const FAR_RECOUNT_MS = 30_000;
const QUOTA_HEADROOM = 0.9;
const MAX_COUNTED_CALLERS = 10_000;
/**
 * New claims a caller not counted yet by this instance makes while its first
 * count runs, at most (and never more than the headroom): after a start, each
 * caller's first call waited for a scan of every stored reply on FerretDB
 * (0.2–0.4 s under load, seconds for a day of replies), 17 of them at once
 * when the lines came back together.
 */
const UNCOUNTED_CLAIMS = 100;

/**
 * Keeps count of each caller's stored replies against its quota for one
 * instance, so that a new claim rarely waits for a count: `count` is a scan
 * of the caller's replies (of all replies on FerretDB).
 */
export class CallerQuota {
  /** Each caller's stored replies when last counted, plus the claims made here since. */
  private readonly counted = new Map<string, { n: number; at: number }>();
  /** Claims made by callers whose first count has not landed yet. */
  private readonly uncounted = new Map<string, number>();
  /** Callers whose background recount is queued or running. */
  private readonly recounting = new Set<string>();
  /** The background recounts, one after another. */
  private background: Promise<void> = Promise.resolve();

  constructor(
    private readonly quota: ReplyQuota | undefined,
    private readonly count: (caller: string, now: number) => Promise<number>,
  ) {}

  /**
   * Whether a new claim of `caller` (inserted already) stays within its quota.
   * While the caller is well below it, the claim goes on with the count this
   * instance knows, and a stale count (older than QUOTA_RECOUNT_MS, or
   * FAR_RECOUNT_MS below half the quota) is renewed in the background, off
   * the call's path. A caller not counted yet is counted in the background
   * too, its first UNCOUNTED_CLAIMS claims going on meanwhile; one near its
   * quota, or past those first claims, is counted at every new claim.
   */
  async admits(caller: string, now: number): Promise<boolean> {
    const limit = this.quotaOf(caller);
    if (limit === undefined) return true;
    const seen = this.counted.get(caller);
    if (seen !== undefined && now >= seen.at && seen.n + 1 <= limit * QUOTA_HEADROOM) {
      seen.n++;
      if (now - seen.at >= (seen.n < limit / 2 ? FAR_RECOUNT_MS : QUOTA_RECOUNT_MS)) this.recountLater(caller, now);
      return true;
    }
    const early = this.uncounted.get(caller) ?? 0;
    if (seen === undefined && early + 1 <= Math.min(UNCOUNTED_CLAIMS, limit * (1 - QUOTA_HEADROOM))) {
      if (this.uncounted.size >= MAX_COUNTED_CALLERS) this.uncounted.clear();
      this.uncounted.set(caller, early + 1);
      this.recountLater(caller, now);
      return true;
    }
    return (await this.recount(caller, now)) <= limit;
  }

  private async recount(caller: string, now: number): Promise<number> {
    const n = await this.count(caller, now);
    if (this.counted.size >= MAX_COUNTED_CALLERS) this.counted.clear();
    this.counted.set(caller, { n, at: now });
    this.uncounted.delete(caller);
    return n;
  }

  /**
   * One background recount per caller at a time, and one at a time for all callers:
   * on FerretDB each is a scan of every stored reply, and the first counts
   * of 16 lines placing orders at once, run together, held both of its cores
   * for about a second. A failed one leaves the old count, retried at the next claim.
   */
  private recountLater(caller: string, now: number): void {
    if (this.recounting.has(caller)) return;
    this.recounting.add(caller);
    this.background = this.background
      .then(() => this.recount(caller, now))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.recounting.delete(caller));
  }

  /** The caller's quota (0: none). */
  limitOf(caller: string): number {
    return this.quotaOf(caller) ?? 0;
  }

  private quotaOf(caller: string): number | undefined {
    if (this.quota === undefined || caller === "") return undefined;
    return caller.startsWith("apcs:") ? this.quota.perParticipant : this.quota.perRole;
  }
}
