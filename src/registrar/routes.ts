import { Code, ConnectError, type Client, type ConnectRouter } from "@connectrpc/connect";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import type { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import type { BlockStore } from "../core/block-store.js";
import { streamBlocks, type BlockProgress } from "../core/block-stream.js";
import { checkReply } from "../core/check-reply.js";
import type { Journal } from "../core/journal.js";
import type { Notifier } from "../core/notifier.js";
import { deriveRequestId, REQUEST_ID_HEADER, requestIdOf } from "../core/request-id.js";
import type { Collection } from "../store/store.js";
import { createPool } from "./create-pool.js";
import type { CodeFiller } from "../core/code-filler.js";
import { loadPool, OPEN, toPoolMessage, type PoolDoc } from "./pools.js";

export interface RegistrarDeps {
  pools: Collection<PoolDoc>;
  blocks: BlockStore;
  emitter: Client<typeof EmitterService>;
  filler: CodeFiller;
  notifier: Notifier;
  journal: Journal;
  callTimeoutMs: number;
  recheckMs: number;
}

/** Registers the Registrar's handlers. */
export function registrarRoutes(d: RegistrarDeps): (router: ConnectRouter) => void {
  const progress = async (orderId: string): Promise<BlockProgress> => {
    const p = await loadPool(d.pools, orderId);
    return {
      stored: p.pooledBlocks,
      total: p.totalBlocks,
      ...(OPEN.includes(p.status) ? {} : { ended: new ConnectError(`pool ${p._id} is ${PoolStatus[p.status]}: no more codes will come`, Code.FailedPrecondition) }),
    };
  };
  return (router) =>
    router.service(RegistrarService, {
      async createPool(req, ctx) {
        const pool = await createPool(
          { pools: d.pools, emitter: d.emitter, journal: d.journal, callTimeoutMs: d.callTimeoutMs, fill: (id) => d.filler.fill(id) },
          { participantId: req.participantId, order: req.order, requestId: requestIdOf(ctx) },
        );
        return { orderId: pool._id, readiness: toPoolMessage(pool).readiness, status: pool.status };
      },
      async getPool(req) {
        return { pool: toPoolMessage(await loadPool(d.pools, req.orderId)) };
      },
      async *streamCodes(req, ctx) {
        await loadPool(d.pools, req.orderId);
        const source = { blocks: d.blocks, notifier: d.notifier, progress, recheckMs: d.recheckMs };
        for await (const block of streamBlocks(source, req.orderId, req.afterBlock, ctx.signal)) yield { block };
      },
      async closePool(req, ctx) {
        const pool = await loadPool(d.pools, req.orderId);
        await d.pools.updateOne({ _id: pool._id, status: { $in: OPEN } }, { $set: { status: PoolStatus.CLOSED, updatedAt: Date.now() } });
        await d.filler.stop(pool._id);
        d.notifier.notify(pool._id);
        // Closing is idempotent below too, so a retried close finishes the job.
        const requestId = requestIdOf(ctx);
        await checkReply(
          { journal: d.journal, step: "close", below: "Emission server", orderRef: pool._id, requestId, participantId: pool.participantId },
          () => d.emitter.closeEmissionOrder({ orderId: pool._id }, { headers: { [REQUEST_ID_HEADER]: deriveRequestId(requestId, "registrar") }, timeoutMs: d.callTimeoutMs }),
          () => undefined,
        );
        return { pool: toPoolMessage(await loadPool(d.pools, pool._id)) };
      },
    });
}
