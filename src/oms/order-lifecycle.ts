import type { Client } from "@connectrpc/connect";
import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import type { BlockStore, CodeFiller } from "../core/codes/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import { type DownstreamOutbox, type Journal, requireQuota, retransmitUntil } from "../core/iotp/index.js";
import type { Notifier } from "../core/runtime/index.js";
import { deriveRequestId, REQUEST_ID_HEADER } from "../core/rpc/index.js";
import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection } from "../store/store.js";
import { cancelMarkId, loadOrder, OPEN, type CancelMarkDoc, type OrderDoc } from "./orders.js";

export interface OrderLifecycleDeps {
  orders: Collection<OrderDoc>;
  cancelMarks: Collection<CancelMarkDoc>;
  blocks: BlockStore;
  registrar: Client<typeof RegistrarService>;
  filler: CodeFiller;
  notifier: Notifier;
  journal: Journal;
  outbox: DownstreamOutbox;
  /** How long a cancel mark is kept, and how many one participant may have (then a new one is refused). */
  cancelMarkLimits: { retentionMs: number; maxPerCaller: number };
}

/** Closes the order here, then its pool and emission order below. Closing twice is harmless. */
export async function closeOrder(d: OrderLifecycleDeps, orderId: string, participantId: string, requestId: string): Promise<OrderDoc> {
  await loadOrder(d.orders, orderId, participantId);
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
    await loadOrder(d.orders, req.orderId, participantId);
    return endOrder(d, req.orderId, participantId, requestId, "cancel");
  }
  const _id = cancelMarkId(participantId, req.createRequestId);
  const now = Date.now();
  const { retentionMs, maxPerCaller } = d.cancelMarkLimits;
  // New marks past the cap are refused, never old ones dropped: a dropped mark would let its order run.
  if (!(await isCancelledBeforeCreation(d, participantId, req.createRequestId)))
    await requireQuota(d.cancelMarks, { participantId, expiresAt: { $gt: now } }, maxPerCaller, "cancel marks");
  await insertOrLoad(d.cancelMarks, { _id, participantId, createdAt: now, expiresAt: now + retentionMs });
  const placed = await d.orders.findOne({ participantId, requestId: req.createRequestId });
  return placed === undefined ? undefined : endOrder(d, placed._id, participantId, requestId, "cancel");
}

/** Whether a cancel already named this CreateOrder request. */
export async function isCancelledBeforeCreation(d: OrderLifecycleDeps, participantId: string, createRequestId: string): Promise<boolean> {
  const mark = await d.cancelMarks.findOne({ _id: cancelMarkId(participantId, createRequestId) });
  return mark !== undefined && (mark.expiresAt === undefined || mark.expiresAt > Date.now());
}

async function endOrder(
  d: OrderLifecycleDeps,
  orderId: string,
  participantId: string,
  requestId: string,
  kind: "close" | "cancel",
): Promise<OrderDoc> {
  const status = kind === "close" ? OrderStatus.CLOSED : OrderStatus.CANCELLED;
  const ended = await d.orders.updateOne(
    { _id: orderId, status: { $in: [...OPEN, OrderStatus.DECLINED] } },
    {
      $set: {
        status,
        bufferStatus: kind === "close" ? BufferStatus.CLOSED : BufferStatus.CANCELLED,
        pending: kind,
        // Request ids are the caller's: two participants may use the same one.
        pendingRequestId: deriveRequestId(requestId, `oms:${participantId}`),
        updatedAt: Date.now(),
      },
    },
  );
  const now = ended ?? (await d.orders.findOne({ _id: orderId }));
  if (now === undefined) throw new OrderStateError(orderId, "gone", "it no longer exists");
  if (now.status !== status)
    throw new OrderStateError(orderId, OrderStatus[now.status], `it can no longer be ${kind === "close" ? "closed" : "cancelled"}`);
  await d.filler.stop(orderId);
  // Acknowledgements stop with the status change, so deliveredBlocks is final: what lies beyond is void.
  if (kind === "cancel") await d.blocks.dropAfter(orderId, now.deliveredBlocks);
  d.notifier.notify(orderId);
  if (now.pending !== undefined) await sendDown(d, now);
  return (await d.orders.findOne({ _id: orderId })) ?? now;
}

/** Sends a pending close or cancel to the Registrar (also after a restart). */
export async function sendDown(d: OrderLifecycleDeps, order: OrderDoc): Promise<void> {
  const orderId = order._id;
  const headers = { [REQUEST_ID_HEADER]: order.pendingRequestId ?? deriveRequestId(`${order.pending}:${orderId}`, "oms") };
  const clear = async (): Promise<void> => {
    await d.orders.updateOne({ _id: orderId, pending: order.pending }, { $unset: { pending: true, pendingRequestId: true } });
  };
  await d.outbox.deliver({
    key: `${order.pending}:${orderId}`,
    what: order.pending === "cancel" ? "CancelPool" : "ClosePool",
    send: (until) =>
      order.pending === "cancel"
        ? d.registrar.cancelPool(
            { orderId, deliveredThroughBlock: order.deliveredBlocks },
            { headers, contextValues: retransmitUntil(until) },
          )
        : d.registrar.closePool({ orderId }, { headers, contextValues: retransmitUntil(until) }),
    delivered: clear,
    refused: async (err) => {
      await d.journal.record({
        step: order.pending ?? "",
        orderId,
        requestId: headers[REQUEST_ID_HEADER],
        participantId: order.participantId,
        error: err,
        cause: err,
      });
      await clear();
    },
  });
}
