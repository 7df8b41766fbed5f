import type { Client } from "@connectrpc/connect";
import type { CodeBlock } from "../gen/emission/common/v1/order_pb.js";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import type { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { blocksOf, CodeFiller, type CodeFillerDeps, type FillerTarget } from "../core/codes/index.js";
import type { WorkLease } from "../core/iotp/index.js";
import type { Collection } from "../store/store.js";
import { FILLING, loadPool, type PoolDoc } from "./pools.js";

/** Step 10.1: the pool is filled from the Emission server's code stream. */
export function createPoolFiller(
  deps: Omit<CodeFillerDeps, "step">,
  pools: Collection<PoolDoc>,
  emitter: Client<typeof EmitterService>,
  lease: WorkLease<PoolDoc>,
): CodeFiller {
  const target: FillerTarget = {
    open: (orderId, afterBlock, signal) => blocksOf(emitter.streamCodes({ orderId, afterBlock }, { signal })),
    cursor: async (orderId) => (await loadPool(pools, orderId)).pooledBlocks,
    async advance(block: CodeBlock) {
      const pool = await loadPool(pools, block.orderId);
      if (pool.pooledBlocks !== block.seq - 1) return;
      // Absolute values, not $inc: the same step applied twice changes nothing.
      await pools.updateOne(
        { _id: block.orderId, pooledBlocks: block.seq - 1, status: { $in: FILLING } },
        {
          $set: {
            pooledBlocks: block.seq,
            pooledCodes: pool.pooledCodes + block.codes.length,
            status: block.last ? PoolStatus.READY : PoolStatus.IN_PROCESS,
            updatedAt: Date.now(),
          },
        },
      );
    },
    async fail(orderId) {
      return pools.updateOne({ _id: orderId, status: { $in: FILLING } }, { $set: { status: PoolStatus.REJECTED, updatedAt: Date.now() } });
    },
    traceparent: async (orderId) => (await pools.findOne({ _id: orderId }))?.traceparent,
    filling: async () => (await pools.find({ status: { $in: FILLING } })).map((p) => p._id),
    lease,
  };
  return new CodeFiller({ ...deps, step: "10.1" }, target);
}
