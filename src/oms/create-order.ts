import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { OrderSpec } from "../gen/emission/common/v1/order_pb.js";
import { BufferStatus, OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { checkReply, type Journal, requireWellFormedOrder } from "../core/iotp/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import { CreateOrderRequestSchema } from "../gen/emission/oms/v1/oms_pb.js";
import { deriveRequestId, REQUEST_ID_HEADER } from "../core/rpc/index.js";
import { freshRecordOf, incompleteCreateReply, newHopRecord } from "../core/hop/index.js";
import type { FreshRecord } from "../core/codes/index.js";
import { inSpan } from "../core/telemetry/index.js";
import type { OmsOrders, OrderDoc } from "./orders.js";

export interface CreateOrderDeps {
  orders: Pick<OmsOrders, "insertOrLoad">;
  registrar: Client<typeof RegistrarService>;
  journal: Journal;
  /** Step 14.1: start filling the array in the background. */
  fill(orderId: string, fresh?: FreshRecord): void;
  /** The lease of an order this instance creates and fills at once. */
  newLease(now: number): Pick<OrderDoc, "leaseOwner" | "leaseUntil">;
  /** Whether a cancel named this CreateOrder request id already. */
  cancelledBefore(participantId: string, requestId: string): Promise<boolean>;
  /** Cancels an order this request created after a cancel named it. */
  cancel(orderId: string): Promise<OrderDoc>;
}

export interface CreateOrderInput {
  participantId: string;
  order: OrderSpec | undefined;
  requestId: string;
}

/**
 * Step 2 and steps 12 to 15 of process 01.01.00.00 at OMS. Step 2 checks who
 * is asking (done by the auth interceptor: a line controller token names its
 * participant) and the request's shape, by the Emission server's step 4
 * rules (2.1 journal, 2.2 error reply), then sends the order on; the
 * business rules (step 5) are checked at the Emission server only.
 */
export async function createOrder(d: CreateOrderDeps, input: CreateOrderInput): Promise<OrderDoc> {
  const request = create(CreateOrderRequestSchema);
  if (input.order !== undefined) request.order = input.order;
  const fields = { requestId: input.requestId, participantId: input.participantId };
  await inSpan("step 2: check request", { ...fields, step: "2" }, () =>
    requireWellFormedOrder({ journal: d.journal, step: "2", ...fields }, CreateOrderRequestSchema, request),
  );
  const ref = input.order?.productionOrderId ?? "";
  // A cancelled order is never started by a later message (IOTP §4.5.3).
  if (await d.cancelledBefore(input.participantId, input.requestId)) {
    throw new OrderStateError(ref, "CANCELLED", `CreateOrder request ${input.requestId} was cancelled before the order was created`);
  }
  // Steps 12-13: receive the Registrar's result and check it; 13.1 journal, 13.2 error reply to APCS, 13.3 on to step 16.
  const reply = await inSpan("step 13: check reply", { ...fields, step: "13" }, () =>
    checkReply(
      { journal: d.journal, step: "13", below: "Registrar", orderRef: ref, requestId: input.requestId, participantId: input.participantId },
      () =>
        d.registrar.createPool(
          { participantId: input.participantId, ...(input.order === undefined ? {} : { order: input.order }) },
          // Not bound to the line's deadline: this run keeps sending below (within the hop's own
          // retransmission policy) after the line's attempt gave up, and completes its stored reply, so
          // the line's retransmission picks it up. Stopping with the caller would release the claim and
          // start the chain over on every retry: a chain slower than one attempt, as after a crash
          // below, would never finish.
          { headers: { [REQUEST_ID_HEADER]: deriveRequestId(input.requestId, `oms:${input.participantId}`) } },
        ),
      incompleteCreateReply,
    ),
  );
  // Step 14: the code array; 14.1 filled asynchronously from the Registrar, by this instance.
  const now = Date.now();
  const order: OrderDoc = {
    ...newHopRecord(
      reply,
      { participantId: input.participantId, productionOrderId: ref, requestId: input.requestId },
      now,
      d.newLease(now),
    ),
    productGroup: input.order?.productGroup ?? 0,
    status: OrderStatus.APPROVED,
    bufferStatus: BufferStatus.PENDING,
    receivedBlocks: 0,
    receivedCodes: 0,
    deliveredBlocks: 0,
    deliveredCodes: 0,
  };
  // A retransmitted request whose first run got this far finds its order here.
  const existing = await inSpan("step 14: code array", { ...fields, orderId: order._id, step: "14" }, () => d.orders.insertOrLoad(order));
  // A cancel that arrived while this request was on its way down wins.
  if (await d.cancelledBefore(input.participantId, input.requestId)) return d.cancel(existing._id);
  d.fill(existing._id, freshRecordOf(existing, order));
  return existing; // step 15: the reply to APCS
}
