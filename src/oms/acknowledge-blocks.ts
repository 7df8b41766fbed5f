import { Code } from "@connectrpc/connect";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { BlockStore } from "../core/codes/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import type { Notifier } from "../core/runtime/index.js";
import { OPEN, type OmsOrders, type OrderDoc } from "./orders.js";
import { meshError } from "../core/rpc/index.js";

export interface OrderActionDeps {
  records: OmsOrders;
  blocks: BlockStore;
  notifier: Notifier;
}

/**
 * The line confirms it stored every block through `through`. Moves the
 * delivered cursor forward only (a repeated or older ack changes nothing),
 * as one conditional update per step so concurrent acks count each code once.
 */
export async function acknowledgeBlocks(d: OrderActionDeps, orderId: string, participantId: string, through: number): Promise<OrderDoc> {
  for (;;) {
    const order = await d.records.load(orderId, participantId);
    if (through <= order.deliveredBlocks) return order;
    if (!OPEN.includes(order.status))
      throw new OrderStateError(order._id, OrderStatus[order.status], "blocks can no longer be acknowledged");
    if (through > order.receivedBlocks) {
      throw meshError(
        `block ${through} of order ${orderId} has not been sent yet (the array holds ${order.receivedBlocks} blocks)`,
        Code.OutOfRange,
        "BLOCK_NOT_SENT",
      );
    }
    // Through every block received: the record says how many codes that is; else block `through` does.
    const codes =
      through === order.receivedBlocks
        ? order.receivedCodes - order.deliveredCodes
        : await d.blocks.codesAfter(orderId, order.deliveredBlocks, order.deliveredCodes, through);
    const updated = await d.records.markDelivered(order, through, codes);
    if (updated !== undefined) {
      d.notifier.notify(orderId);
      return updated;
    }
  }
}
