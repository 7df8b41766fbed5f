import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection } from "../store/store.js";
import type { OrderIntentDoc } from "./emission-orders.js";

/**
 * What step 5 is about to take for an order whose document does not exist
 * yet (see recordIntent in create-emission-order.ts): the one place that
 * speaks the store's query language for intents.
 */
export class OrderIntents {
  constructor(private readonly docs: Collection<OrderIntentDoc>) {}

  /** Written before the order takes anything; a retry of the same run finds its own. */
  async record(intent: OrderIntentDoc): Promise<void> {
    await insertOrLoad(this.docs, intent);
  }

  /** The order exists, or was refused: nothing of it is left to undo. */
  async drop(orderId: string): Promise<void> {
    await this.docs.deleteMany({ _id: orderId });
  }

  /** Intents written before `t`: creates that most likely stopped running. */
  olderThan(t: number): Promise<OrderIntentDoc[]> {
    return this.docs.find({ createdAt: { $lt: t } });
  }
}
