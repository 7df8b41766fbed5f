import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { OrderStateError } from "../domain/domain-errors.js";
import type { Verification } from "../domain/crypto-tail.js";
import type { EmissionOrderDoc } from "./emission-orders.js";
import type { EmissionServerDeps } from "./emission-server-deps.js";

/**
 * Cancel (IOTP §4.5.3): emission stops at the next block, blocks after the
 * last one the line acknowledged are voided (dropped, and VerifyCode refuses
 * their codes), their serials stay taken so they are never emitted again, and
 * open streams end. Cancelling a cancelled order changes nothing.
 */
export async function cancelEmissionOrder(d: EmissionServerDeps, orderId: string, deliveredThrough: number): Promise<EmissionOrderDoc> {
  const order = await d.db.orders.load(orderId);
  const voidedAfterBlock = Math.min(deliveredThrough, order.emittedBlocks);
  const cancelled = await d.db.orders.cancel(orderId, voidedAfterBlock);
  if (cancelled !== undefined) {
    await d.db.slots.giveBack(orderId);
    await d.blocks.dropAfter(orderId, voidedAfterBlock, order.totalBlocks);
    d.notifier.notify(orderId);
    return cancelled;
  }
  const now = await d.db.orders.get(orderId);
  if (now?.status === OrderStatus.CANCELLED) return now;
  throw new OrderStateError(orderId, OrderStatus[now?.status ?? order.status], "it can no longer be cancelled");
}

/** Closes the order: emission stops at the next block, open streams end. Closing twice changes nothing. */
export async function closeEmissionOrder(d: EmissionServerDeps, orderId: string): Promise<EmissionOrderDoc> {
  const order = await d.db.orders.load(orderId);
  const closed = await d.db.orders.close(order._id);
  if (closed === undefined) return d.db.orders.load(orderId);
  await d.db.slots.giveBack(order._id);
  d.notifier.notify(order._id);
  return closed;
}

/**
 * VerifyCode: the crypto tail must be ours, and the code must have been
 * emitted here and not voided by a cancel.
 */
export async function checkCode(d: EmissionServerDeps, code: string): Promise<Verification> {
  const v = await d.keys.verify(code);
  if (!v.valid) return v;
  const serial = await d.db.serials.holder(v.gtin, v.serial);
  if (serial === undefined) return { ...v, valid: false, reason: "the code was never emitted here" };
  const order = await d.db.orders.get(serial.orderId);
  const product = order?.products[serial.product];
  if (order === undefined || product === undefined) return { ...v, valid: false, reason: "the code was never emitted here" };
  const seq = product.firstBlock + serial.chunk;
  if (seq > order.emittedBlocks && order.status === OrderStatus.PENDING)
    return { ...v, valid: false, reason: "the code is not emitted yet" };
  if (order.status === OrderStatus.CANCELLED && seq > (order.voidedAfterBlock ?? 0)) {
    return { ...v, valid: false, reason: `the code was voided when order ${order._id} was cancelled` };
  }
  return v;
}
