import type { Client } from "@connectrpc/connect";
import type { CodeBlock } from "../gen/emission/common/v1/order_pb.js";
import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { blocksOf, CodeFiller, type CodeFillerDeps, type FillerTarget } from "../core/codes/index.js";
import type { WorkLease } from "../core/iotp/index.js";
import type { Collection } from "../store/store.js";
import { FILLING, type OrderDoc } from "./orders.js";

/** Step 14.1: the code array is filled from the Registrar's pool stream. */
export function createArrayFiller(
  deps: Omit<CodeFillerDeps, "step">,
  orders: Collection<OrderDoc>,
  registrar: Client<typeof RegistrarService>,
  lease: WorkLease<OrderDoc>,
): CodeFiller {
  const target: FillerTarget = {
    open: (orderId, afterBlock, signal) => blocksOf(registrar.streamCodes({ orderId, afterBlock }, { signal })),
    cursor: async (orderId) => (await orders.findOne({ _id: orderId }))?.receivedBlocks ?? 0,
    async advance(block: CodeBlock) {
      const order = await orders.findOne({ _id: block.orderId });
      if (order?.receivedBlocks !== block.seq - 1) return;
      // Absolute values, not $inc: the same step applied twice changes nothing.
      await orders.updateOne(
        { _id: block.orderId, receivedBlocks: block.seq - 1, status: { $in: FILLING } },
        {
          $set: {
            receivedBlocks: block.seq,
            bufferStatus: BufferStatus.ACTIVE,
            receivedCodes: order.receivedCodes + block.codes.length,
            ...(block.last ? { status: OrderStatus.READY } : {}),
            updatedAt: Date.now(),
          },
        },
      );
    },
    async fail(orderId) {
      return orders.updateOne(
        { _id: orderId, status: { $in: FILLING } },
        { $set: { status: OrderStatus.DECLINED, bufferStatus: BufferStatus.REJECTED, updatedAt: Date.now() } },
      );
    },
    traceparent: async (orderId) => (await orders.findOne({ _id: orderId }))?.traceparent,
    filling: async () => (await orders.find({ status: { $in: FILLING } })).map((o) => o._id),
    lease,
  };
  return new CodeFiller({ ...deps, step: "14.1" }, target);
}
