import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import { PoolSchema, type Pool } from "../gen/emission/registrar/v1/registrar_pb.js";
import { type HopRecordDoc, HopRecords, type HopRecordsSpec, readinessOf } from "../core/hop/index.js";
import type { Store } from "../store/store.js";

/** Step 10: the code pool of one order at the Registrar. */
export interface PoolDoc extends HopRecordDoc {
  status: PoolStatus;
  /** Highest block stored contiguously from the Emission server. */
  pooledBlocks: number;
  pooledCodes: number;
  /** Cancel: the highest block the line acknowledged; later blocks are void. */
  deliveredThrough?: number | undefined;
}

/** Pools still being filled (resumed after a restart). */
export const FILLING: readonly PoolStatus[] = [PoolStatus.REQUESTED, PoolStatus.IN_PROCESS];
export const OPEN: readonly PoolStatus[] = [...FILLING, PoolStatus.READY];

/** The Registrar's pools as a forwarding hop keeps them: filled from the Emission server, taken by OMS. */
const POOL_RECORDS: HopRecordsSpec<PoolDoc> = {
  called: "the pool",
  statusName: (s) => PoolStatus[s],
  filling: FILLING,
  open: OPEN,
  cursor: { blocks: "pooledBlocks", codes: "pooledCodes" },
  onBlock: (block) => ({ status: block.last ? PoolStatus.READY : PoolStatus.IN_PROCESS }),
  failed: { status: PoolStatus.REJECTED },
  ended: { close: { status: PoolStatus.CLOSED }, cancel: { status: PoolStatus.CANCELLED } },
  deliveredThrough: (p) => p.deliveredThrough ?? 0,
};

export type Pools = HopRecords<PoolDoc>;

export async function openPools(store: Store): Promise<Pools> {
  return new HopRecords(await store.collection<PoolDoc>("pools", [{ fields: ["status"] }]), POOL_RECORDS);
}

export function toPoolMessage(p: PoolDoc): Pool {
  return create(PoolSchema, {
    orderId: p._id,
    participantId: p.participantId,
    productionOrderId: p.productionOrderId,
    status: p.status,
    readiness: readinessOf(p),
    pooledCodes: BigInt(p.pooledCodes),
    pooledBlocks: p.pooledBlocks,
    createTime: timestampFromMs(p.createdAt),
    updateTime: timestampFromMs(p.updatedAt),
  });
}
