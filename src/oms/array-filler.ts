import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { CodeFiller, type CodeFillerDeps, type EncodedBlock, type FillerTarget } from "../core/codes/index.js";
import type { WorkLease } from "../core/iotp/index.js";
import type { Collection } from "../store/store.js";
import { FILLING, type OrderDoc } from "./orders.js";

/** Step 14.1: the code array is filled from the Registrar's pool stream. */
export function createArrayFiller(
  deps: Omit<CodeFillerDeps, "step">,
  orders: Collection<OrderDoc>,
  /** StreamCodes of the role below, blocks kept encoded (encodedCodeStream). */
  streamCodes: (request: { orderId: string; afterBlock: number }, signal: AbortSignal) => AsyncIterable<EncodedBlock>,
  lease: WorkLease<OrderDoc>,
): CodeFiller {
  const target: FillerTarget = {
    open: (orderId, afterBlock, signal) => streamCodes({ orderId, afterBlock }, signal),
    cursor: async (orderId) => (await orders.findOne({ _id: orderId }))?.receivedBlocks ?? 0,
    async advance(block: EncodedBlock) {
      const order = await orders.findOne({ _id: block.orderId });
      if (order?.receivedBlocks !== block.seq - 1) return;
      // Absolute values, not $inc: the same step applied twice changes nothing.
      await orders.updateOne(
        { _id: block.orderId, receivedBlocks: block.seq - 1, status: { $in: FILLING } },
        {
          $set: {
            receivedBlocks: block.seq,
            bufferStatus: BufferStatus.ACTIVE,
            receivedCodes: order.receivedCodes + block.count,
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
    filling: async () => (await orders.find({ status: { $in: FILLING } })).map((o) => o._id),
    lease,
  };
  return new CodeFiller({ ...deps, step: "14.1" }, target);
}
