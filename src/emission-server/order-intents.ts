import type { Collection } from "../store/store.js";
import type { OrderIntentDoc } from "./emission-orders.js";

/**
 * Intents written to a collection of their own by instances before the
 * intent moved into the active slot (SlotDoc): read and dropped by the
 * abandoned-order sweep only, so that what such an instance left behind is
 * still given back. The one place that speaks the store's query language for them.
 */
export class OrderIntents {
  constructor(private readonly docs: Collection<OrderIntentDoc>) {}

  /** The order exists, or what it took was given back: nothing of it is left to undo. */
  async drop(orderId: string): Promise<void> {
    await this.docs.deleteMany({ _id: orderId });
  }

  /** Intents written before `t`. */
  olderThan(t: number): Promise<OrderIntentDoc[]> {
    return this.docs.find({ createdAt: { $lt: t } });
  }
}
