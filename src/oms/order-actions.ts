import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import type { BlockStore } from "../core/block-store.js";
import { checkReply } from "../core/check-reply.js";
import type { CodeFiller } from "../core/code-filler.js";
import { OrderStateError } from "../core/domain-errors.js";
import type { Journal } from "../core/journal.js";
import type { Notifier } from "../core/notifier.js";
import { deriveRequestId, REQUEST_ID_HEADER } from "../core/request-id.js";
import type { Collection } from "../store/store.js";
import { loadOrder, OPEN, type OrderDoc } from "./orders.js";

export interface OrderActionDeps {
  orders: Collection<OrderDoc>;
  blocks: BlockStore;
  registrar: Client<typeof RegistrarService>;
  filler: CodeFiller;
  notifier: Notifier;
  journal: Journal;
  callTimeoutMs: number;
}

/**
 * The line confirms it stored every block through `through`. Moves the
 * delivered cursor forward only (a repeated or older ack changes nothing),
 * as one conditional update per step so concurrent acks count each code once.
 */
export async function acknowledgeBlocks(d: OrderActionDeps, orderId: string, participantId: string, through: number): Promise<OrderDoc> {
  for (;;) {
    const order = await loadOrder(d.orders, orderId, participantId);
    if (through <= order.deliveredBlocks) return order;
    if (!OPEN.includes(order.status)) throw new OrderStateError(order._id, OrderStatus[order.status], "blocks can no longer be acknowledged");
    if (through > order.receivedBlocks) {
      throw new ConnectError(`block ${through} of order ${orderId} has not been sent yet (the array holds ${order.receivedBlocks} blocks)`, Code.OutOfRange);
    }
    const codes = await d.blocks.countCodes(orderId, order.deliveredBlocks, through);
    const exhausted = through === order.totalBlocks;
    const updated = await d.orders.updateOne(
      { _id: orderId, deliveredBlocks: order.deliveredBlocks },
      {
        $set: { deliveredBlocks: through, updatedAt: Date.now(), ...(exhausted ? { bufferStatus: BufferStatus.EXHAUSTED } : {}) },
        $inc: { deliveredCodes: codes },
      },
    );
    if (updated !== undefined) {
      d.notifier.notify(orderId);
      return updated;
    }
  }
}

/**
 * Closes the order here, then its pool at the Registrar (which closes the
 * emission order). Closing again is harmless, and a close that failed below
 * is finished by the retry.
 */
export async function closeOrder(d: OrderActionDeps, orderId: string, participantId: string, requestId: string): Promise<OrderDoc> {
  const order = await loadOrder(d.orders, orderId, participantId);
  await d.orders.updateOne(
    { _id: orderId, status: { $in: [...OPEN, OrderStatus.DECLINED] } },
    { $set: { status: OrderStatus.CLOSED, bufferStatus: BufferStatus.CLOSED, updatedAt: Date.now() } },
  );
  await d.filler.stop(orderId);
  d.notifier.notify(orderId);
  await checkReply(
    { journal: d.journal, step: "close", below: "Registrar", orderRef: orderId, requestId, participantId: order.participantId },
    () => d.registrar.closePool({ orderId }, { headers: { [REQUEST_ID_HEADER]: deriveRequestId(requestId, "oms") }, timeoutMs: d.callTimeoutMs }),
    () => undefined,
  );
  return loadOrder(d.orders, orderId, participantId);
}
