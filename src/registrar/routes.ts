import type { ConnectRouter } from "@connectrpc/connect";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import { RegistrarService, StreamCodesResponseSchema } from "../gen/emission/registrar/v1/registrar_pb.js";
import { type BlockProgress, streamBlocks, blockResponse } from "../core/codes/index.js";
import { requestIdOf, toConnectError } from "../core/rpc/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import { createPool } from "./create-pool.js";
import { cancelPool, closePool, type PoolLifecycleDeps } from "./pool-lifecycle.js";
import { loadPool, OPEN, toPoolMessage } from "./pools.js";

export interface RegistrarDeps extends PoolLifecycleDeps {
  recheckMs: number;
}

/** Registers the Registrar's handlers. */
export function registrarRoutes(d: RegistrarDeps): (router: ConnectRouter) => void {
  const progress = async (orderId: string): Promise<BlockProgress> => {
    const p = await loadPool(d.pools, orderId);
    return {
      stored: p.pooledBlocks,
      total: p.totalBlocks,
      ...(OPEN.includes(p.status)
        ? {}
        : { ended: toConnectError(new OrderStateError(p._id, PoolStatus[p.status], "no more codes will come")) }),
    };
  };
  return (router) =>
    router.service(RegistrarService, {
      async createPool(req, ctx) {
        const pool = await createPool(
          { pools: d.pools, emitter: d.emitter, journal: d.journal, fill: (id) => d.filler.fill(id) },
          { participantId: req.participantId, order: req.order, requestId: requestIdOf(ctx), signal: ctx.signal },
        );
        return { orderId: pool._id, readiness: toPoolMessage(pool).readiness, status: pool.status };
      },
      async getPool(req) {
        return { pool: toPoolMessage(await loadPool(d.pools, req.orderId)) };
      },
      async *streamCodes(req, ctx) {
        await loadPool(d.pools, req.orderId);
        const source = { blocks: d.blocks, notifier: d.notifier, progress, recheckMs: d.recheckMs };
        // Each block goes out as it was encoded where it was made.
        for await (const block of streamBlocks(source, req.orderId, req.afterBlock, ctx.signal))
          yield blockResponse(StreamCodesResponseSchema, block, ctx);
      },
      async closePool(req, ctx) {
        return { pool: toPoolMessage(await closePool(d, req.orderId, requestIdOf(ctx))) };
      },
      async cancelPool(req, ctx) {
        return { pool: toPoolMessage(await cancelPool(d, req.orderId, requestIdOf(ctx), req.deliveredThroughBlock)) };
      },
    });
}
