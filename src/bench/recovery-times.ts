/**
 * Recovery time after a kill: how long until the calls and streams that were
 * moving when the kill hit move again. An activity is a line controller's
 * call (CreateOrder, CloseOrder), moving as long as it is in flight, or a
 * code stream, moving if it made progress within MOVING_WITHIN_MS; its
 * progress events are its start, each block received and its end.
 */
export interface ActivityLog {
  /** What it is, for the report: "CreateOrder chaos-…-0003", "codes of chaos-…-0003". */
  what?: string;
  /** A unary call: waiting for its answer, it counts as moving all the time it is in flight. */
  call?: boolean;
  /** Epoch ms of every progress event, ascending. */
  events: number[];
  /** When it ended, or undefined while it runs. */
  endedAt?: number | undefined;
}

/** An activity counts as moving at a kill when it made progress this shortly before. */
export const MOVING_WITHIN_MS = 1_000;

/**
 * For each kill, the longest wait of any activity moving at that moment
 * until its next progress event (or its end). Kills that caught nothing
 * moving give no figure. An activity that never moved again counts up to
 * `until` (the end of the run), so a stall is never hidden.
 */
export function recoveryTimes(kills: readonly number[], activities: readonly ActivityLog[], until: number): number[] {
  return kills.flatMap((kill) => recoveryAfter(kill, activities, until) ?? []).sort((x, y) => x - y);
}

/** The recovery time of one kill, or undefined if nothing was moving when it hit. */
export function recoveryAfter(kill: number, activities: readonly ActivityLog[], until: number): number | undefined {
  return slowestAfter(kill, activities, until)?.ms;
}

/** The activity that took longest to move again after the kill, and how long. */
export function slowestAfter(kill: number, activities: readonly ActivityLog[], until: number): { ms: number; what: string } | undefined {
  let worst: { ms: number; what: string } | undefined;
  for (const a of activities) {
    if (a.endedAt !== undefined && a.endedAt <= kill) continue;
    const before = lastAtOrBefore(a.events, kill);
    if (before === undefined || (a.call !== true && kill - before > MOVING_WITHIN_MS)) continue;
    const after = a.events.find((t) => t > kill) ?? a.endedAt ?? until;
    if (worst === undefined || after - kill > worst.ms) worst = { ms: after - kill, what: a.what ?? "" };
  }
  return worst;
}

function lastAtOrBefore(events: readonly number[], t: number): number | undefined {
  let found: number | undefined;
  for (const e of events) {
    if (e > t) break;
    found = e;
  }
  return found;
}

/** Nearest-rank percentile of ascending `sorted`; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}
