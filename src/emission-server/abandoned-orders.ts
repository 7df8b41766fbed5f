import type { ReplyStore } from "../core/iotp/index.js";
import { type Logger, repeatInTurn } from "../core/runtime/index.js";
import type { EmissionRecords } from "./emission-records.js";

export interface AbandonedOrdersDeps {
  db: EmissionRecords;
  replies: Pick<ReplyStore, "seize" | "release">;
  log: Logger;
}

/** A create's intent, where it was found: in the order's slot, or (written by older instances) in an intent document. */
interface FoundIntent {
  orderId: string;
  claim: string;
  chunks: readonly string[];
  /** Nothing of it is left to undo: the order exists, or what it took was given back. */
  drop(): Promise<void>;
}

async function intentsBefore(db: EmissionRecords, t: number): Promise<FoundIntent[]> {
  const [slots, legacy] = await Promise.all([db.slots.unsettledBefore(t), db.intents.olderThan(t)]);
  return [
    ...slots.map((s) => ({ orderId: s._id, claim: s.claim ?? "", chunks: s.chunks ?? [], drop: () => db.slots.settle(s._id) })),
    ...legacy.map((i) => ({ orderId: i._id, claim: i.claim, chunks: i.chunks, drop: () => db.intents.drop(i._id) })),
  ];
}

/**
 * Gives back what step 5 took for orders whose document step 6 never wrote
 * because the instance creating them died in between (see takeSlotWithIntent
 * in create-emission-order.ts): their SELF_MADE serials, serial chunks and
 * active slot. It first takes the request's claim from the dead instance,
 * so no retry can write the order while this undoes it; a retry afterwards
 * is a new run with a new order id. Intents younger than `minAgeMs` belong
 * to creates most likely still running and are not even looked at.
 */
export async function releaseAbandonedOrders(d: AbandonedOrdersDeps, minAgeMs: number, now = Date.now()): Promise<number> {
  let released = 0;
  for (const intent of await intentsBefore(d.db, now - minAgeMs)) {
    if ((await d.db.orders.get(intent.orderId)) !== undefined) {
      await intent.drop(); // its creator died just after writing the order
      continue;
    }
    const claim = await d.replies.seize(intent.claim, now);
    if (claim === "busy") continue; // its creator (or a retry) runs
    // Read again: a run that finished between the two reads wrote the order (a done claim).
    if ((await d.db.orders.get(intent.orderId)) === undefined) {
      await undo(d.db, intent);
      released++;
      d.log.info({ orderId: intent.orderId }, "released the serials and slot of an order whose creation died before step 6");
    }
    await intent.drop();
    if (claim === "seized") await d.replies.release(intent.claim); // a retry is processed afresh
  }
  return released;
}

async function undo(db: EmissionRecords, intent: FoundIntent): Promise<void> {
  await db.serials.release(intent.orderId);
  await db.serials.dropChunksByKey(intent.chunks);
  await db.slots.giveBack(intent.orderId);
}

/** Runs the sweep every `everyMs`; returns its stop function. */
export function sweepAbandonedOrders(d: AbandonedOrdersDeps, everyMs: number, minAgeMs: number): () => void {
  return repeatInTurn(
    everyMs,
    () => releaseAbandonedOrders(d, minAgeMs),
    (err) => d.log.warn({ err }, "abandoned-order sweep failed"),
    {
      unref: true,
    },
  );
}
