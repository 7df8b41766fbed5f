import type { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { type EndKind, endHopRecord, type Hop } from "../core/hop/index.js";
import { deriveRequestId } from "../core/rpc/index.js";
import type { CancelMarks, OmsOrders, OrderDoc } from "./orders.js";

/** OMS as a forwarding hop, with the Registrar below, and the marks of cancels by request id. */
export interface OrderLifecycleDeps extends Hop<OrderDoc, OmsOrders, typeof RegistrarService> {
  cancelMarks: CancelMarks;
}

/** Closes the order here, then its pool and emission order below. Closing twice is harmless. */
export async function closeOrder(d: OrderLifecycleDeps, orderId: string, participantId: string, requestId: string): Promise<OrderDoc> {
  await d.records.load(orderId, participantId);
  return endOrder(d, orderId, participantId, requestId, "close");
}

/**
 * Cancel (IOTP §4.5.3), by order id or by the request id of the CreateOrder
 * that placed it. A mark keyed by that request id makes the order cancelled
 * whichever comes first: a create still running sees the mark when it
 * finishes and cancels what it created; a create arriving later is refused.
 */
export async function cancelOrder(
  d: OrderLifecycleDeps,
  req: { orderId: string; createRequestId: string },
  participantId: string,
  requestId: string,
): Promise<OrderDoc | undefined> {
  if (req.orderId !== "") {
    await d.records.load(req.orderId, participantId);
    return endOrder(d, req.orderId, participantId, requestId, "cancel");
  }
  await d.cancelMarks.mark(participantId, req.createRequestId);
  const placed = await d.records.placedBy(participantId, req.createRequestId);
  return placed === undefined ? undefined : endOrder(d, placed._id, participantId, requestId, "cancel");
}

/** Whether a cancel already named this CreateOrder request. */
export async function isCancelledBeforeCreation(d: OrderLifecycleDeps, participantId: string, createRequestId: string): Promise<boolean> {
  return d.cancelMarks.named(participantId, createRequestId);
}

/** Ends the order here; the close or cancel goes on to the Registrar. */
function endOrder(d: OrderLifecycleDeps, orderId: string, participantId: string, requestId: string, kind: EndKind): Promise<OrderDoc> {
  // Request ids are the caller's: two participants may use the same one.
  return endHopRecord(d, orderId, kind, deriveRequestId(requestId, `oms:${participantId}`));
}
