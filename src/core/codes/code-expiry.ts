import type { Collection, Filter, Update } from "../../store/store.js";
import type { BlockStore } from "./block-store.js";
import { type Logger, repeatInTurn } from "../runtime/index.js";

export interface CodeExpiryOptions {
  /** How long codes of a finished (closed, cancelled, refused) order are kept. */
  retentionMs: number;
  log: Logger;
  /** Orders finished before `before` whose codes are still kept. */
  finished(before: number): Promise<string[]>;
  /** Drops the order's codes and marks it so. */
  purge(orderId: string): Promise<void>;
}

/**
 * Codes of finished orders are dropped after the retention period, by the
 * role itself (FerretDB 1.x has no TTL indexes, and MongoDB's would not know
 * when an order finished). Runs now and then; returns the stop function.
 */
export function startCodeExpiry(o: CodeExpiryOptions): () => void {
  const sweep = async (): Promise<void> => {
    for (const orderId of await o.finished(Date.now() - o.retentionMs)) await o.purge(orderId);
  };
  return repeatInTurn(Math.max(10, Math.min(o.retentionMs, 60 * 60 * 1000)), sweep, (err) => o.log.warn({ err }, "code expiry failed"), {
    unref: true,
  });
}

/** A role's order record, as far as expiry of its codes is concerned. */
export interface FinishableDoc {
  _id: string;
  status: number;
  updatedAt: number;
  /** The order's blocks are numbered 1 to this. */
  totalBlocks: number;
  codesPurged?: boolean;
}

/**
 * Code expiry for a role whose orders live in `orders` and codes in `blocks`:
 * orders in one of `finished` statuses lose their blocks (and whatever
 * `alsoDrop` names) once the retention period has passed.
 */
export function expireFinishedOrders<T extends FinishableDoc>(
  orders: Collection<T>,
  finished: readonly number[],
  blocks: BlockStore,
  o: { retentionMs: number; log: Logger; alsoDrop?: (order: T) => Promise<void> },
): () => void {
  return startCodeExpiry({
    retentionMs: o.retentionMs,
    log: o.log,
    finished: async (before) =>
      (await orders.find({ status: { $in: finished }, updatedAt: { $lt: before }, codesPurged: { $ne: true } } as Filter<T>)).map(
        (x) => x._id,
      ),
    async purge(orderId) {
      const order = await orders.findOne({ _id: orderId } as Filter<T>);
      if (order !== undefined) {
        await blocks.dropAfter(orderId, 0, order.totalBlocks);
        await o.alsoDrop?.(order);
      }
      await orders.updateOne({ _id: orderId } as Filter<T>, { $set: { codesPurged: true } } as Update<T>);
    },
  });
}
