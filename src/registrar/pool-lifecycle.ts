import type { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { endHopRecord, type Hop } from "../core/hop/index.js";
import { deriveRequestId } from "../core/rpc/index.js";
import type { PoolDoc, Pools } from "./pools.js";

/** The Registrar as a forwarding hop, with the Emission server below. */
export type PoolLifecycleDeps = Hop<PoolDoc, Pools, typeof EmitterService>;

/** Closes the pool here, then the emission order below. Closing twice is harmless. */
export async function closePool(d: PoolLifecycleDeps, orderId: string, requestId: string): Promise<PoolDoc> {
  await d.records.load(orderId);
  return endHopRecord(d, orderId, "close", deriveRequestId(requestId, "registrar"));
}

/**
 * Cancels the pool (IOTP §4.5.3): no more codes are fetched, blocks after
 * the last one the line acknowledged are voided, and the cancel goes on to
 * the Emission server. Cancelling twice is harmless.
 */
export async function cancelPool(d: PoolLifecycleDeps, orderId: string, requestId: string, deliveredThrough: number): Promise<PoolDoc> {
  await d.records.load(orderId);
  return endHopRecord(d, orderId, "cancel", deriveRequestId(requestId, "registrar"), { deliveredThrough });
}
