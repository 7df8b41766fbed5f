import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReadinessSchema } from "../gen/emission/common/v1/order_pb.js";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import { PoolSchema, type Pool } from "../gen/emission/registrar/v1/registrar_pb.js";
import { OrderNotFoundError } from "../domain/domain-errors.js";
import type { Collection, Store } from "../store/store.js";

/** Step 10: the code pool of one order at the Registrar. */
export interface PoolDoc {
  _id: string;
  /** The instance filling it from the role below, and until when (see WorkLease). */
  leaseOwner: string;
  leaseUntil: number;
  participantId: string;
  productionOrderId: string;
  requestId: string;
  status: PoolStatus;
  totalCodes: number;
  totalBlocks: number;
  readyAt: number;
  /** Set once the codes of the finished order were dropped (see startCodeExpiry). */
  codesPurged?: boolean;
  /** Highest block stored contiguously from the Emission server. */
  pooledBlocks: number;
  pooledCodes: number;
  /** A close or cancel not yet confirmed by the Emission server. */
  pending?: "close" | "cancel" | undefined;
  /** Request id the pending message goes down with. */
  pendingRequestId?: string | undefined;
  /** Cancel: the highest block the line acknowledged; later blocks are void. */
  deliveredThrough?: number | undefined;
  /** W3C traceparent of the call that created it: filling (10.1) joins the order's trace, on any instance. */
  traceparent?: string;
  createdAt: number;
  updatedAt: number;
}

/** Pools still being filled (resumed after a restart). */
export const FILLING: readonly PoolStatus[] = [PoolStatus.REQUESTED, PoolStatus.IN_PROCESS];
export const OPEN: readonly PoolStatus[] = [...FILLING, PoolStatus.READY];

export async function openPools(store: Store): Promise<Collection<PoolDoc>> {
  return store.collection<PoolDoc>("pools", [{ fields: ["status"] }]);
}

export async function loadPool(pools: Collection<PoolDoc>, orderId: string): Promise<PoolDoc> {
  const pool = orderId === "" ? undefined : await pools.findOne({ _id: orderId });
  if (pool === undefined) throw new OrderNotFoundError(orderId);
  return pool;
}

export function toPoolMessage(p: PoolDoc): Pool {
  return create(PoolSchema, {
    orderId: p._id,
    participantId: p.participantId,
    productionOrderId: p.productionOrderId,
    status: p.status,
    readiness: create(ReadinessSchema, {
      totalCodes: BigInt(p.totalCodes),
      totalBlocks: p.totalBlocks,
      estimatedReadyTime: timestampFromMs(p.readyAt),
    }),
    pooledCodes: BigInt(p.pooledCodes),
    pooledBlocks: p.pooledBlocks,
    createTime: timestampFromMs(p.createdAt),
    updateTime: timestampFromMs(p.updatedAt),
  });
}
