import type { Client } from "@connectrpc/connect";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import type { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import type { BlockStore, CodeFiller } from "../core/codes/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import { type DownstreamOutbox, type Journal, retransmitUntil } from "../core/iotp/index.js";
import type { Notifier } from "../core/runtime/index.js";
import { deriveRequestId, REQUEST_ID_HEADER } from "../core/rpc/index.js";
import type { Collection } from "../store/store.js";
import { loadPool, OPEN, type PoolDoc } from "./pools.js";

export interface PoolLifecycleDeps {
  pools: Collection<PoolDoc>;
  blocks: BlockStore;
  emitter: Client<typeof EmitterService>;
  filler: CodeFiller;
  notifier: Notifier;
  journal: Journal;
  outbox: DownstreamOutbox;
}

/** Closes the pool here, then the emission order below. Closing twice is harmless. */
export async function closePool(d: PoolLifecycleDeps, orderId: string, requestId: string): Promise<PoolDoc> {
  return endPool(d, orderId, requestId, "close", PoolStatus.CLOSED, {});
}

/**
 * Cancels the pool (IOTP §4.5.3): no more codes are fetched, blocks after
 * the last one the line acknowledged are voided, and the cancel goes on to
 * the Emission server. Cancelling twice is harmless.
 */
export async function cancelPool(d: PoolLifecycleDeps, orderId: string, requestId: string, deliveredThrough: number): Promise<PoolDoc> {
  return endPool(d, orderId, requestId, "cancel", PoolStatus.CANCELLED, { deliveredThrough });
}

async function endPool(
  d: PoolLifecycleDeps,
  orderId: string,
  requestId: string,
  kind: "close" | "cancel",
  status: PoolStatus,
  extra: Partial<PoolDoc>,
): Promise<PoolDoc> {
  const pool = await loadPool(d.pools, orderId);
  const ended = await d.pools.updateOne(
    { _id: orderId, status: { $in: [...OPEN, PoolStatus.REJECTED] } },
    { $set: { status, pending: kind, pendingRequestId: deriveRequestId(requestId, "registrar"), updatedAt: Date.now(), ...extra } },
  );
  const now = ended ?? (await loadPool(d.pools, orderId));
  if (now.status !== status)
    throw new OrderStateError(orderId, PoolStatus[now.status], `the pool can no longer be ${kind === "close" ? "closed" : "cancelled"}`);
  await d.filler.stop(orderId);
  if (kind === "cancel") await d.blocks.dropAfter(orderId, now.deliveredThrough ?? 0);
  d.notifier.notify(orderId);
  if (now.pending !== undefined) await sendDown(d, now);
  return loadPool(d.pools, pool._id);
}

/** Sends a pending close or cancel to the Emission server (also after a restart). */
export async function sendDown(d: PoolLifecycleDeps, pool: PoolDoc): Promise<void> {
  const headers = { [REQUEST_ID_HEADER]: pool.pendingRequestId ?? deriveRequestId(`${pool.pending}:${pool._id}`, "registrar") };
  const orderId = pool._id;
  await d.outbox.deliver({
    key: `${pool.pending}:${orderId}`,
    what: pool.pending === "cancel" ? "CancelEmissionOrder" : "CloseEmissionOrder",
    send: (until) =>
      pool.pending === "cancel"
        ? d.emitter.cancelEmissionOrder(
            { orderId, deliveredThroughBlock: pool.deliveredThrough ?? 0 },
            { headers, contextValues: retransmitUntil(until) },
          )
        : d.emitter.closeEmissionOrder({ orderId }, { headers, contextValues: retransmitUntil(until) }),
    delivered: async () => {
      await d.pools.updateOne({ _id: orderId, pending: pool.pending }, { $unset: { pending: true, pendingRequestId: true } });
    },
    refused: async (err) => {
      await d.journal.record({
        step: pool.pending ?? "",
        orderId,
        requestId: headers[REQUEST_ID_HEADER],
        participantId: pool.participantId,
        error: err,
        cause: err,
      });
      await d.pools.updateOne({ _id: orderId, pending: pool.pending }, { $unset: { pending: true, pendingRequestId: true } });
    },
  });
}
