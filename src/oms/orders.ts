import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReadinessSchema } from "../gen/emission/common/v1/order_pb.js";
import { type BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { OrderSchema, type Order } from "../gen/emission/oms/v1/oms_pb.js";
import { OrderNotFoundError } from "../domain/domain-errors.js";
import type { Collection, Store } from "../store/store.js";

/** Step 14: a business order with its code array at OMS. */
export interface OrderDoc {
  _id: string;
  /** The instance filling it from the role below, and until when (see WorkLease). */
  leaseOwner: string;
  leaseUntil: number;
  participantId: string;
  productionOrderId: string;
  productGroup: number;
  requestId: string;
  status: OrderStatus;
  bufferStatus: BufferStatus;
  totalCodes: number;
  totalBlocks: number;
  readyAt: number;
  /** Set once the codes of the finished order were dropped (see startCodeExpiry). */
  codesPurged?: boolean;
  /** Highest block stored contiguously from the Registrar. */
  receivedBlocks: number;
  receivedCodes: number;
  /** Highest block the line acknowledged. */
  deliveredBlocks: number;
  deliveredCodes: number;
  /** A close or cancel not yet confirmed by the Registrar. */
  pending?: "close" | "cancel" | undefined;
  pendingRequestId?: string | undefined;
  /** W3C traceparent of the call that created it: filling (14.1) joins the order's trace, on any instance. */
  traceparent?: string;
  createdAt: number;
  updatedAt: number;
}

/** Orders whose array is still being filled from the Registrar. */
export const FILLING: readonly OrderStatus[] = [OrderStatus.APPROVED];
/** Orders the line can still work with. */
export const OPEN: readonly OrderStatus[] = [OrderStatus.APPROVED, OrderStatus.READY];

export async function openOrders(store: Store): Promise<Collection<OrderDoc>> {
  return store.collection<OrderDoc>("orders", [{ fields: ["participantId", "requestId"] }, { fields: ["status"] }]);
}

/** A cancel that named the CreateOrder request id: the order it names must never run. */
export interface CancelMarkDoc {
  /** "<participant>|<create request id>" */
  _id: string;
  createdAt: number;
}

export async function openCancelMarks(store: Store): Promise<Collection<CancelMarkDoc>> {
  return store.collection<CancelMarkDoc>("cancel_marks");
}

export function cancelMarkId(participantId: string, createRequestId: string): string {
  return `${participantId}|${createRequestId}`;
}

/** Loads an order of the participant; another participant's order does not exist for it. */
export async function loadOrder(orders: Collection<OrderDoc>, orderId: string, participantId: string): Promise<OrderDoc> {
  const order = orderId === "" ? undefined : await orders.findOne({ _id: orderId });
  if (order === undefined || (participantId !== "" && order.participantId !== participantId)) throw new OrderNotFoundError(orderId);
  return order;
}

export function toOrderMessage(o: OrderDoc): Order {
  return create(OrderSchema, {
    orderId: o._id,
    participantId: o.participantId,
    productionOrderId: o.productionOrderId,
    productGroup: o.productGroup,
    status: o.status,
    bufferStatus: o.bufferStatus,
    readiness: create(ReadinessSchema, {
      totalCodes: BigInt(o.totalCodes),
      totalBlocks: o.totalBlocks,
      estimatedReadyTime: timestampFromMs(o.readyAt),
    }),
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
