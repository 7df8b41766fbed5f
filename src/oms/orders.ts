import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { OrderSchema, type Order } from "../gen/emission/oms/v1/oms_pb.js";
import { type HopRecordDoc, HopRecords, type HopRecordsSpec, readinessOf } from "../core/hop/index.js";
import { requireQuota } from "../core/iotp/index.js";
import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection, Store } from "../store/store.js";

/** Step 14: a business order with its code array at OMS. */
export interface OrderDoc extends HopRecordDoc {
  productGroup: number;
  status: OrderStatus;
  bufferStatus: BufferStatus;
  /** Highest block stored contiguously from the Registrar. */
  receivedBlocks: number;
  receivedCodes: number;
  /** Highest block the line acknowledged. */
  deliveredBlocks: number;
  deliveredCodes: number;
}

/** Orders whose array is still being filled from the Registrar. */
export const FILLING: readonly OrderStatus[] = [OrderStatus.APPROVED];
/** Orders the line can still work with. */
export const OPEN: readonly OrderStatus[] = [OrderStatus.APPROVED, OrderStatus.READY];

/** OMS's orders as a forwarding hop keeps them: the array fills from the Registrar, the line takes it. */
const ORDER_RECORDS: HopRecordsSpec<OrderDoc> = {
  called: "it",
  statusName: (s) => OrderStatus[s],
  filling: FILLING,
  open: OPEN,
  cursor: { blocks: "receivedBlocks", codes: "receivedCodes" },
  onBlock: (block) => ({ bufferStatus: BufferStatus.ACTIVE, ...(block.last ? { status: OrderStatus.READY } : {}) }),
  failed: { status: OrderStatus.DECLINED, bufferStatus: BufferStatus.REJECTED },
  ended: {
    close: { status: OrderStatus.CLOSED, bufferStatus: BufferStatus.CLOSED },
    cancel: { status: OrderStatus.CANCELLED, bufferStatus: BufferStatus.CANCELLED },
  },
  deliveredThrough: (o) => o.deliveredBlocks,
};

/** OMS's orders: the hop's records, plus what only OMS does with them (acknowledgements, cancel by request id). */
export class OmsOrders extends HopRecords<OrderDoc> {
  static async open(store: Store): Promise<OmsOrders> {
    return new OmsOrders(
      await store.collection<OrderDoc>("orders", [{ fields: ["participantId", "requestId"] }, { fields: ["status"] }]),
      ORDER_RECORDS,
    );
  }

  /** The order a participant's CreateOrder request placed, if it got that far. */
  placedBy(participantId: string, requestId: string): Promise<OrderDoc | undefined> {
    return this.docs.findOne({ participantId, requestId });
  }

  /**
   * Moves the delivered cursor from where `order` has it to `through`, `codes`
   * codes further; undefined if another acknowledgement or an end came first.
   */
  markDelivered(order: OrderDoc, through: number, codes: number): Promise<OrderDoc | undefined> {
    const exhausted = through === order.totalBlocks;
    return this.docs.updateOne(
      { _id: order._id, deliveredBlocks: order.deliveredBlocks, status: { $in: OPEN } },
      {
        $set: {
          deliveredBlocks: through,
          deliveredCodes: order.deliveredCodes + codes,
          updatedAt: Date.now(),
          ...(exhausted ? { bufferStatus: BufferStatus.EXHAUSTED } : {}),
        },
      },
    );
  }
}

/** A cancel that named the CreateOrder request id: the order it names must never run. */
/** How long a cancel mark is kept, and how many one participant may have. */
export interface CancelMarkLimits {
  retentionMs: number;
  maxPerCaller: number;
}

interface CancelMarkDoc {
  /** "<participant>|<create request id>" */
  _id: string;
  /** Its owner, for the per-participant cap (CANCEL_MARK_MAX_PER_CALLER); absent on marks of older versions. */
  participantId?: string;
  createdAt: number;
  /** Forgotten after CANCEL_MARK_RETENTION_MS; absent: kept. */
  expiresAt?: number;
}

/**
 * Cancels that named a CreateOrder request id, kept whether or not its order
 * exists yet, for CANCEL_MARK_RETENTION_MS. New marks past a participant's cap
 * are refused, never old ones dropped: a dropped mark would let its order run.
 */
export class CancelMarks {
  private constructor(
    private readonly marks: Collection<CancelMarkDoc>,
    private readonly limits: CancelMarkLimits,
  ) {}

  static async open(store: Store, limits: CancelMarkLimits): Promise<CancelMarks> {
    const marks = await store.collection<CancelMarkDoc>("cancel_marks", [{ fields: ["participantId"] }, { fields: ["expiresAt"] }]);
    return new CancelMarks(marks, limits);
  }

  async mark(participantId: string, createRequestId: string, now = Date.now()): Promise<void> {
    if (!(await this.named(participantId, createRequestId, now)))
      await requireQuota(this.marks, { participantId, expiresAt: { $gt: now } }, this.limits.maxPerCaller, "cancel marks");
    await insertOrLoad(this.marks, {
      _id: markId(participantId, createRequestId),
      participantId,
      createdAt: now,
      expiresAt: now + this.limits.retentionMs,
    });
  }

  async named(participantId: string, createRequestId: string, now = Date.now()): Promise<boolean> {
    const mark = await this.marks.findOne({ _id: markId(participantId, createRequestId) });
    return mark !== undefined && (mark.expiresAt === undefined || mark.expiresAt > now);
  }

  /** Forgets the marks past their retention. */
  async sweepExpired(now = Date.now()): Promise<void> {
    await this.marks.deleteMany({ expiresAt: { $lt: now } });
  }
}

function markId(participantId: string, createRequestId: string): string {
  return `${participantId}|${createRequestId}`;
}

export function toOrderMessage(o: OrderDoc): Order {
  return create(OrderSchema, {
    orderId: o._id,
    participantId: o.participantId,
    productionOrderId: o.productionOrderId,
    productGroup: o.productGroup,
    status: o.status,
    bufferStatus: o.bufferStatus,
    readiness: readinessOf(o),
    totalCodes: BigInt(o.totalCodes),
    // Closed or cancelled: nothing is available any more (undelivered codes are void).
    availableCodes: BigInt(OPEN.includes(o.status) ? o.receivedCodes - o.deliveredCodes : 0),
    deliveredCodes: BigInt(o.deliveredCodes),
    receivedBlocks: o.receivedBlocks,
    deliveredBlocks: o.deliveredBlocks,
    createTime: timestampFromMs(o.createdAt),
    updateTime: timestampFromMs(o.updatedAt),
  });
}
