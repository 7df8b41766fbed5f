import { BacklogShareError } from "../domain/domain-errors.js";
import type { EmissionOrders } from "./emission-order-records.js";

/** How much of the emission backlog one participant may hold (MAX_BACKLOG_SHARE, BACKLOG_FREE_CODES in config.ts). */
export interface BacklogLimits {
  /** Percent of the backlog, the new order's codes included. */
  sharePercent: number;
  /** Below this many codes waiting in all, nobody is refused. */
  freeCodes: number;
  /** Codes per second one instance emits: for the retry hint. */
  rate: number;
}

export interface BacklogAsk {
  participantId: string;
  /** The new order's id: a retry of a request that already made it does not count against itself. */
  orderId: string;
  codes: number;
}

/**
 * Step 5, bounded backlog: a participant cannot starve the others by
 * queueing. The backlog is every code ordered and not yet emitted, read from
 * the store, so instances sharing it count alike. Beyond its share (once the
 * backlog is over the free allowance) a participant's new order is refused
 * with a hint of when its own orders will have drained enough; a participant
 * with nothing waiting always gets one order in, however large.
 */
export async function checkBacklogShare(
  orders: Pick<EmissionOrders, "pendingOldestFirst">,
  ask: BacklogAsk,
  limits: BacklogLimits,
  step = "5",
): Promise<void> {
  let own = 0;
  let total = 0;
  const participants = new Set<string>([ask.participantId]);
  for (const o of await orders.pendingOldestFirst()) {
    if (o._id === ask.orderId) continue;
    const left = Math.max(0, o.totalCodes - o.emittedCodes);
    total += left;
    if (o.participantId === ask.participantId) own += left;
    else if (left > 0) participants.add(o.participantId);
  }
  const after = total + ask.codes;
  const allowed = Math.floor((after * limits.sharePercent) / 100);
  if (own === 0 || after <= limits.freeCodes || own + ask.codes <= allowed) return;
  // Its orders drain at its turn of the rate: one participant's of all those waiting.
  const excess = own + ask.codes - allowed;
  const retryAfterMs = Math.ceil(((excess * participants.size) / limits.rate) * 1000);
  throw new BacklogShareError(step, ask.participantId, { held: own, backlog: total, sharePercent: limits.sharePercent, retryAfterMs });
}
