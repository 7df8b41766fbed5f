import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { OrderSpec } from "../gen/emission/common/v1/order_pb.js";
import { SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { CreateEmissionOrderRequestSchema } from "../gen/emission/emitter/v1/emitter_pb.js";
import { OrderRejectedError, type FieldViolation } from "../domain/domain-errors.js";
import { type Journal, requireWellFormedOrder } from "../core/iotp/index.js";
import { checkOrder } from "../domain/order-validation.js";
import { currentTraceparent, inSpan, withTrace } from "../core/telemetry/index.js";
import type { AfterReply } from "../core/rpc/index.js";
import type { Emitter } from "./emitter.js";
import { chunkKey, planBlocks, serialKey, type EmissionOrderDoc, type SerialDoc } from "./emission-orders.js";
import { newSerialSeed } from "../domain/serial-generator.js";
import type { EmissionRecords } from "./emission-records.js";
import type { EmitterFaults } from "./emitter-faults.js";
import { registerInOrder } from "./ordered-registration.js";
import { type BacklogLimits, checkBacklogShare } from "./backlog-share.js";

export interface CreateDeps {
  db: EmissionRecords;
  emitter: Emitter;
  journal: Journal;
  blockSize: number;
  maxActiveOrders: number;
  /** Tests only: where to stop as if the process died. */
  faults?: EmitterFaults;
  backlog: Omit<BacklogLimits, "rate">;
}

export interface CreateInput {
  participantId: string;
  order: OrderSpec | undefined;
  requestId: string;
  /** When the request was first claimed (see requestSinceKey). */
  since: number;
  /** The request's stored-reply key (see requestClaimKey). */
  claim: string;
  /** When the order's emission may start: once the reply has left. */
  afterReply: AfterReply;
}

/** Steps 4 to 7 of process 01.01.00.00 at the Emission server. */
export async function createEmissionOrder(d: CreateDeps, input: CreateInput): Promise<EmissionOrderDoc> {
  const who = { participantId: input.participantId, requestId: input.requestId };
  const spec = await inSpan("step 4: check request", { ...who, step: "4" }, () => step4CheckRequest(d, input));
  // The same request (a retransmission, or a retry after a crash) always gets the same order id.
  const orderId = orderIdFor(input.participantId, input.requestId, input.since);
  const fields = { ...who, orderId };
  await inSpan("step 5: check order", { ...fields, step: "5" }, () => step5CheckOrder(d, input, spec, orderId));
  return inSpan("step 6: assign order id and readiness", { ...fields, step: "6" }, () => step6AssignAndQueue(d, input, spec, orderId));
}

/** Step 4: check the request; 4.1 journal, 4.2 error reply, 4.3 the Registrar takes it at step 8. */
async function step4CheckRequest(d: CreateDeps, input: CreateInput): Promise<OrderSpec> {
  // The contract's rules (buf.validate in emitter.proto and order.proto), by protovalidate, and the per-serial check.
  const request = create(CreateEmissionOrderRequestSchema, { participantId: input.participantId });
  if (input.order !== undefined) request.order = input.order;
  return requireWellFormedOrder(
    { journal: d.journal, step: "4", requestId: input.requestId, participantId: input.participantId },
    CreateEmissionOrderRequestSchema,
    request,
  );
}

/**
 * Step 5: check the order's business rules; 5.1 journal, 5.2 error reply, 5.3 on to step 8.
 * The order takes its active slot first, with the intent of this create in it, and counts:
 * one write and one read for the limit of active orders and the intent. The backlog is
 * read (a scan of the orders on FerretDB) only for a participant with other active
 * orders: one without holds none of it, as a pending order keeps its slot until it is
 * closed or cancelled. Two creates racing for the last slot may both give theirs back
 * (both are refused, and a retry succeeds); neither can exceed the limit.
 */
async function step5CheckOrder(d: CreateDeps, input: CreateInput, spec: OrderSpec, orderId: string): Promise<void> {
  const others = (await takeSlotWithIntent(d, input, spec, orderId)) - 1;
  let violations = checkOrder(spec, { activeOrders: others, maxActiveOrders: d.maxActiveOrders });
  if (violations.length === 0 && others > 0) await checkBacklog(d, input, spec, orderId);
  if (violations.length === 0) violations = await reserveSelfMadeSerials(d, spec, orderId);
  if (violations.length === 0) return;
  await d.db.slots.giveBack(orderId); // refused: its serials are back already, and the slot carried the intent
  return refuse(d, input, spec, new OrderRejectedError("5", violations));
}

/** Step 5.1: journal why the order is refused; 5.2: the error reply. */
async function refuse(d: CreateDeps, input: CreateInput, spec: OrderSpec, error: unknown): Promise<never> {
  await d.journal.record({
    step: "5.1",
    orderId: spec.productionOrderId,
    requestId: input.requestId,
    participantId: input.participantId,
    error,
  });
  throw error; // 5.2
}

/**
 * Step 5, bounded backlog per participant: refused before the order takes
 * serials (its slot, taken already, is given back); 5.1 journal, 5.2 error reply.
 */
async function checkBacklog(d: CreateDeps, input: CreateInput, spec: OrderSpec, orderId: string): Promise<void> {
  const codes = spec.products.reduce((n, p) => n + p.quantity, 0);
  try {
    await checkBacklogShare(d.db.orders, { participantId: input.participantId, orderId, codes }, { ...d.backlog, rate: d.emitter.rate });
  } catch (error) {
    // Nothing taken but the slot; if the store fails here too, the abandoned-order sweep gives it back.
    await d.db.slots.giveBack(orderId).catch(() => undefined);
    await refuse(d, input, spec, error);
  }
}

/**
 * Step 5, "never emitted before": takes every SELF_MADE serial in the serial
 * registry (unique per GTIN, forever). If any was taken before, gives back
 * the ones this order took, so a refused order leaves nothing behind.
 */
async function reserveSelfMadeSerials(d: CreateDeps, spec: OrderSpec, orderId: string): Promise<FieldViolation[]> {
  const violations: FieldViolation[] = [];
  for (const [index, p] of spec.products.entries()) {
    if (p.serialNumberType !== SerialNumberType.SELF_MADE) continue;
    const docs: SerialDoc[] = p.serialNumbers.map((serial, pos) => ({
      _id: serialKey(p.gtin, serial),
      orderId,
      product: index,
      chunk: Math.floor(pos / d.blockSize),
    }));
    // In order first: a retry after a crash finds what its dead run took with a few reads, not one per serial.
    const collision = await registerInOrder(d.db.serials, docs);
    const taken = collision === undefined ? [] : await takenByOthers(d, docs, await d.db.serials.take(docs), orderId);
    for (const pos of taken.slice(0, 100)) {
      violations.push({
        field: `order.products[${index}].serial_numbers[${pos}]`,
        description: `serial ${JSON.stringify(p.serialNumbers[pos])} was already emitted for GTIN ${p.gtin}`,
      });
    }
    if (taken.length > 100)
      violations.push({
        field: `order.products[${index}].serial_numbers`,
        description: `${taken.length - 100} more serials were already emitted`,
      });
  }
  if (violations.length > 0) await releaseSerials(d, orderId);
  else await writeChunks(d, spec, orderId);
  return violations;
}

/** The reserved serials of each block, in order, for the emitter to read by key. */
async function writeChunks(d: CreateDeps, spec: OrderSpec, orderId: string): Promise<void> {
  for (const [index, p] of spec.products.entries()) {
    if (p.serialNumberType !== SerialNumberType.SELF_MADE) continue;
    for (let chunk = 0; chunk * d.blockSize < p.serialNumbers.length; chunk++) {
      const serials = p.serialNumbers.slice(chunk * d.blockSize, (chunk + 1) * d.blockSize);
      await d.db.serials.fixChunk({ _id: chunkKey(orderId, index, chunk), serials });
    }
  }
}

/**
 * The serials and slot step 5 takes exist before the order document of step
 * 6 (a refused order must never have had one). So that a create dying
 * between the two leaves nothing behind for good, the slot is taken first
 * and carries an intent naming the request's claim and the order's chunks,
 * cleared once the order exists; a sweep (abandoned-orders.ts) takes the
 * claim of an intent whose creator died and gives back what it took.
 * Simpler than an order document in a "not yet checked" state, which every
 * reader of orders (emitter, streams, status, limits) would have to skip.
 * Returns the participant's active orders, this one's included.
 */
function takeSlotWithIntent(d: CreateDeps, input: CreateInput, spec: OrderSpec, orderId: string): Promise<number> {
  const chunks = spec.products.flatMap((p, index) =>
    p.serialNumberType !== SerialNumberType.SELF_MADE
      ? []
      : Array.from({ length: Math.ceil(p.serialNumbers.length / d.blockSize) }, (_, c) => chunkKey(orderId, index, c)),
  );
  return d.db.slots.take({ _id: orderId, participantId: input.participantId, claim: input.claim, chunks, createdAt: Date.now() });
}

async function releaseSerials(d: CreateDeps, orderId: string): Promise<void> {
  await d.db.serials.release(orderId);
}

/** Positions of refused serials held by another order (not by an earlier run of this same request). */
async function takenByOthers(d: CreateDeps, docs: readonly SerialDoc[], duplicates: readonly number[], orderId: string): Promise<number[]> {
  const others: number[] = [];
  // In batches, not one read per serial: a retry after a crash finds all of its own serials taken.
  for (let i = 0; i < duplicates.length; i += HOLDER_BATCH) {
    const batch = duplicates.slice(i, i + HOLDER_BATCH);
    const held = await d.db.serials.holders(batch.map((pos) => docs[pos]?._id ?? ""));
    const holders = new Map(held.map((h) => [h._id, h.orderId]));
    for (const pos of batch) if (holders.get(docs[pos]?._id ?? "") !== orderId) others.push(pos);
  }
  return others;
}

const HOLDER_BATCH = 1_000;

/** A UUID-shaped id derived from the participant, the request id and its first claim. */
function orderIdFor(participantId: string, requestId: string, since: number): string {
  const h = createHash("sha256").update(`${participantId}\u0000${requestId}\u0000${since}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** Step 6: assign the order id and readiness time; 6.1 start emission asynchronously. */
async function step6AssignAndQueue(d: CreateDeps, input: CreateInput, spec: OrderSpec, orderId: string): Promise<EmissionOrderDoc> {
  const now = Date.now();
  const plan = planBlocks(
    spec.products.map((p) => ({
      gtin: p.gtin,
      quantity: p.quantity,
      serialNumberType: p.serialNumberType,
      templateId: p.templateId,
      cisType: p.cisType,
    })),
    d.blockSize,
  );
  const order: EmissionOrderDoc = {
    _id: orderId,
    leaseOwner: d.emitter.instance,
    leaseUntil: now + d.emitter.leaseMs,
    participantId: input.participantId,
    productionOrderId: spec.productionOrderId,
    productGroup: spec.productGroup,
    releaseMethodType: spec.releaseMethodType,
    requestId: input.requestId,
    products: plan.products,
    status: OrderStatus.PENDING,
    blockSize: d.blockSize,
    totalCodes: plan.totalCodes,
    totalBlocks: plan.totalBlocks,
    emittedBlocks: 0,
    emittedCodes: 0,
    serialSeed: newSerialSeed(),
    readyAt: d.emitter.estimateReadyAt(input.participantId, plan.totalCodes, now),
    ...withTrace(currentTraceparent()),
    createdAt: now,
    updatedAt: now,
  };
  await d.faults?.orderReserved?.(orderId);
  // A retry of a request whose first run got this far finds its order, already queued.
  const stored = await d.db.orders.insertOrLoad(order);
  // The order owns its serials and slot now. Not waited for: an intent whose order exists is
  // only cleared by the abandoned-order sweep, never undone, should this not land.
  void d.db.slots.settle(orderId).catch(() => undefined);
  if (stored === order) d.emitter.enqueue(order, false, input.afterReply); // 6.1, its first block once the reply has left
  return stored;
}
