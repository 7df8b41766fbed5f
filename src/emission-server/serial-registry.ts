import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection } from "../store/store.js";
import { chunkKey, type EmissionOrderDoc, type SerialChunkDoc, type SerialDoc, type SlotDoc, serialKey } from "./emission-orders.js";

/**
 * The serial registry (a serial taken for a GTIN, forever) and the serials of
 * each block in order (chunk documents): the one place that speaks the
 * store's query language for them.
 */
export class SerialRegistry {
  constructor(private readonly db: { serials: Collection<SerialDoc>; chunks: Collection<SerialChunkDoc> }) {}

  /** Takes the serials; returns the positions of those already taken (by anyone, this order included). */
  async take(serials: readonly SerialDoc[]): Promise<number[]> {
    return (await this.db.serials.insertMany(serials)).duplicates;
  }

  /** Takes the serials in their order up to the first taken one; its position, or undefined when all were free. */
  takeInOrder(serials: readonly SerialDoc[]): Promise<number | undefined> {
    return this.db.serials.insertInOrder(serials);
  }

  /** Who holds one serial (by registry key). */
  holderOf(key: string): Promise<SerialDoc | undefined> {
    return this.db.serials.findOne({ _id: key });
  }

  /** Who holds these serials (by registry key). */
  holders(keys: readonly string[]): Promise<SerialDoc[]> {
    return this.db.serials.find({ _id: { $in: keys } });
  }

  /** Who holds a GTIN's serial, if anyone. */
  holder(gtin: string, serial: string): Promise<SerialDoc | undefined> {
    return this.db.serials.findOne({ _id: serialKey(gtin, serial) });
  }

  /** Gives back every serial an order took (a refused order leaves nothing behind). */
  async release(orderId: string): Promise<void> {
    await this.db.serials.deleteMany({ orderId });
  }

  chunk(key: string): Promise<SerialChunkDoc | undefined> {
    return this.db.chunks.findOne({ _id: key });
  }

  /** Fixes a block's serials: the first to write them wins, everyone reads the same ones back. */
  fixChunk(chunk: SerialChunkDoc): Promise<SerialChunkDoc> {
    return insertOrLoad(this.db.chunks, chunk);
  }

  /** Replaces a chunk's serials if nobody changed it since `chunk` was read; undefined if somebody did. */
  swapChunk(chunk: SerialChunkDoc, serials: string[]): Promise<SerialChunkDoc | undefined> {
    const rev = chunk.rev ?? 0;
    return this.db.chunks.updateOne({ _id: chunk._id, rev }, { $set: { serials, rev: rev + 1 } });
  }

  /** Drops an order's chunk documents (its serials stay taken in the registry). */
  async dropChunks(order: EmissionOrderDoc): Promise<void> {
    await this.dropChunksByKey(order.products.flatMap((p, i) => Array.from({ length: p.blocks }, (_, c) => chunkKey(order._id, i, c))));
  }

  async dropChunksByKey(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.db.chunks.deleteMany({ _id: { $in: [...keys] } });
  }
}

/** One slot per active order, counted per participant for the limit of active orders; while its order is created, the slot carries the create's intent (SlotDoc). */
export class ActiveSlots {
  constructor(private readonly slots: Collection<SlotDoc>) {}

  /** Takes the order's slot (again, on a retry: nothing more) and returns the participant's count, this order's included. */
  async take(slot: SlotDoc): Promise<number> {
    await insertOrLoad(this.slots, slot);
    return this.slots.count({ participantId: slot.participantId });
  }

  async giveBack(orderId: string): Promise<void> {
    await this.slots.deleteMany({ _id: orderId });
  }

  /** The order document exists: its slot carries no intent any more. */
  async settle(orderId: string): Promise<void> {
    await this.slots.updateOne({ _id: orderId }, { $unset: { claim: true, chunks: true, createdAt: true } });
  }

  /** Slots still carrying the intent of a create that took them before `t`: creates that most likely stopped running. */
  unsettledBefore(t: number): Promise<SlotDoc[]> {
    return this.slots.find({ createdAt: { $lt: t } });
  }
}
