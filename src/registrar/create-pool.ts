import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { OrderSpec } from "../gen/emission/common/v1/order_pb.js";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import type { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { checkReply, type Journal, requireWellFormedOrder } from "../core/iotp/index.js";
import { CreatePoolRequestSchema } from "../gen/emission/registrar/v1/registrar_pb.js";
import { deriveRequestId, REQUEST_ID_HEADER } from "../core/rpc/index.js";
import { freshRecordOf, incompleteCreateReply, newHopRecord } from "../core/hop/index.js";
import type { FreshRecord } from "../core/codes/index.js";
import { inSpan } from "../core/telemetry/index.js";
import type { PoolDoc, Pools } from "./pools.js";

export interface CreatePoolDeps {
  pools: Pick<Pools, "insertOrLoad">;
  emitter: Client<typeof EmitterService>;
  journal: Journal;
  /** Step 10.1: start filling the pool in the background. */
  fill(orderId: string, fresh?: FreshRecord): void;
  /** The lease of a pool this instance creates and fills at once. */
  newLease(now: number): Pick<PoolDoc, "leaseOwner" | "leaseUntil">;
}

export interface CreatePoolInput {
  participantId: string;
  order: OrderSpec | undefined;
  requestId: string;
}

/** Steps 3 and 8 to 11 of process 01.01.00.00 at the Registrar. */
export async function createPool(d: CreatePoolDeps, input: CreatePoolInput): Promise<PoolDoc> {
  // Step 3: check the request by the Emission server's step 4 rules (3.1 journal, 3.2 error reply),
  // so a malformed one goes no further; then form the request holding the order and send it on.
  const request = create(CreatePoolRequestSchema, { participantId: input.participantId });
  if (input.order !== undefined) request.order = input.order;
  const fields = { requestId: input.requestId, participantId: input.participantId };
  await inSpan("step 3: form request", { ...fields, step: "3" }, () =>
    requireWellFormedOrder({ journal: d.journal, step: "3", ...fields }, CreatePoolRequestSchema, request),
  );
  const downstreamId = deriveRequestId(input.requestId, "registrar");
  // Steps 8-9: receive the result and check it; 9.1 journal, 9.2 error reply to OMS, 9.3 on to step 12.
  const reply = await inSpan("step 9: check reply", { ...fields, step: "9" }, () =>
    checkReply(
      {
        journal: d.journal,
        step: "9",
        below: "Emission server",
        orderRef: input.order?.productionOrderId ?? "",
        requestId: input.requestId,
        participantId: input.participantId,
      },
      () =>
        d.emitter.createEmissionOrder(
          { participantId: input.participantId, ...(input.order === undefined ? {} : { order: input.order }) },
          // Past OMS's deadline too (see createOrder at OMS): its retransmission finds this run's stored reply.
          { headers: { [REQUEST_ID_HEADER]: downstreamId } },
        ),
      incompleteCreateReply,
    ),
  );
  // Step 10: an empty pool; 10.1 filled asynchronously from the Emission server.
  const placed = {
    participantId: input.participantId,
    productionOrderId: input.order?.productionOrderId ?? "",
    requestId: input.requestId,
  };
  const now = Date.now();
  const pool: PoolDoc = {
    ...newHopRecord(reply, placed, now, d.newLease(now)),
    status: PoolStatus.REQUESTED,
    pooledBlocks: 0,
    pooledCodes: 0,
  };
  // A retransmitted request whose first run got this far finds its pool here.
  const existing = await inSpan("step 10: empty pool", { ...fields, orderId: pool._id, step: "10" }, () => d.pools.insertOrLoad(pool));
  d.fill(existing._id, freshRecordOf(existing, pool));
  return existing; // step 11: the reply to OMS
}
