import type { ConnectRouter } from "@connectrpc/connect";
import { RegistrarService, StreamCodesResponseSchema } from "../gen/emission/registrar/v1/registrar_pb.js";
import { readinessOf, streamHopBlocks } from "../core/hop/index.js";
import { afterReplyOf, requestIdOf } from "../core/rpc/index.js";
import { blockResponse } from "../core/codes/index.js";
import { createPool } from "./create-pool.js";
import { cancelPool, closePool, type PoolLifecycleDeps } from "./pool-lifecycle.js";
import { toPoolMessage } from "./pools.js";

export type RegistrarDeps = PoolLifecycleDeps;

/** Registers the Registrar's handlers. */
export function registrarRoutes(d: RegistrarDeps): (router: ConnectRouter) => void {
  return (router) =>
    router.service(RegistrarService, {
      async createPool(req, ctx) {
        const pool = await createPool(
          {
            pools: d.records,
            emitter: d.client,
            journal: d.journal,
            // The fill opens a stream below: it waits for this reply to leave (after-reply.ts).
            fill: (id, fresh) => afterReplyOf(ctx).run(() => d.filler.fill(id, fresh)),
            newLease: (now) => d.filler.newLease(now),
          },
          { participantId: req.participantId, order: req.order, requestId: requestIdOf(ctx) },
        );
        return { orderId: pool._id, readiness: readinessOf(pool), status: pool.status };
      },
      async getPool(req) {
        return { pool: toPoolMessage(await d.records.load(req.orderId)) };
      },
      async *streamCodes(req, ctx) {
        for await (const block of streamHopBlocks(d, req, "", ctx.signal)) yield blockResponse(StreamCodesResponseSchema, block, ctx); // as it was encoded where it was made
      },
      async closePool(req, ctx) {
        return { pool: toPoolMessage(await closePool(d, req.orderId, requestIdOf(ctx))) };
      },
      async cancelPool(req, ctx) {
        return { pool: toPoolMessage(await cancelPool(d, req.orderId, requestIdOf(ctx), req.deliveredThroughBlock)) };
      },
    });
}
