import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { type BlockStore, expireFinishedOrders } from "../core/codes/index.js";
import { type LeaseContext, WorkLease } from "../core/iotp/index.js";
import type { Logger } from "../core/runtime/index.js";
import { OrderNotFoundError } from "../domain/domain-errors.js";
import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection } from "../store/store.js";
import { ACTIVE_STATUSES, type EmissionOrderDoc } from "./emission-orders.js";

/**
 * The Emission server's orders: the one place that speaks the store's query
 * language for them. Every change is a single-document update conditional on
 * the status, so a closed or cancelled order never moves again.
 */
export class EmissionOrders {
  constructor(private readonly docs: Collection<EmissionOrderDoc>) {}

  async get(orderId: string): Promise<EmissionOrderDoc | undefined> {
    return orderId === "" ? undefined : this.docs.findOne({ _id: orderId });
  }

  async load(orderId: string): Promise<EmissionOrderDoc> {
    const order = await this.get(orderId);
    if (order === undefined) throw new OrderNotFoundError(orderId);
    return order;
  }

  /** Stores a new order, or returns the one an earlier run of the same request stored. */
  insertOrLoad(order: EmissionOrderDoc): Promise<EmissionOrderDoc> {
    return insertOrLoad(this.docs, order);
  }

  /** Orders still being emitted, oldest first. */
  pendingOldestFirst(): Promise<EmissionOrderDoc[]> {
    return this.docs.find({ status: OrderStatus.PENDING }, { sort: { field: "createdAt", direction: 1 } });
  }

  isActive(order: EmissionOrderDoc): boolean {
    return (ACTIVE_STATUSES as readonly OrderStatus[]).includes(order.status);
  }

  /**
   * Block `seq` of `order` (as last read) is stored: counts it, the order
   * READY after its last block. Undefined if the order was closed meanwhile.
   */
  recordBlock(order: EmissionOrderDoc, seq: number, codes: number): Promise<EmissionOrderDoc | undefined> {
    const last = seq === order.totalBlocks;
    return this.docs.updateOne(
      { _id: order._id, emittedBlocks: seq - 1, status: OrderStatus.PENDING },
      {
        // Absolute values, not $inc: applying the same step twice (a backend whose
        // conditional update is not atomic across processes) changes nothing.
        $set: {
          emittedBlocks: seq,
          emittedCodes: order.emittedCodes + codes,
          updatedAt: Date.now(),
          ...(last ? { status: OrderStatus.READY } : {}),
        },
      },
    );
  }

  /** Cancels an active order, its codes after `voidedAfterBlock` void; undefined if it is no longer active. */
  cancel(orderId: string, voidedAfterBlock: number): Promise<EmissionOrderDoc | undefined> {
    return this.docs.updateOne(
      { _id: orderId, status: { $in: ACTIVE_STATUSES } },
      { $set: { status: OrderStatus.CANCELLED, voidedAfterBlock, updatedAt: Date.now() } },
    );
  }

  /** Closes an active order; undefined if it is no longer active. */
  close(orderId: string): Promise<EmissionOrderDoc | undefined> {
    return this.docs.updateOne(
      { _id: orderId, status: { $in: ACTIVE_STATUSES } },
      { $set: { status: OrderStatus.CLOSED, updatedAt: Date.now() } },
    );
  }

  /** Which instance emits which order, when several share one database; `tookOver` is told of each take-over. */
  lease(context: LeaseContext): WorkLease<EmissionOrderDoc> {
    return new WorkLease(this.docs, context);
  }

  /** How many orders have the status (for the orders-by-status metric). */
  countWithStatus(status: OrderStatus): Promise<number> {
    return this.docs.count({ status });
  }

  /** Drops the codes of closed and cancelled orders after the retention period, and what `alsoDrop` names. */
  expireFinished(
    blocks: BlockStore,
    o: { retentionMs: number; log: Logger; alsoDrop: (order: EmissionOrderDoc) => Promise<void> },
  ): () => void {
    return expireFinishedOrders(this.docs, [OrderStatus.CLOSED, OrderStatus.CANCELLED], blocks, o);
  }
}
