import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Readiness, ReadinessSchema } from "../../gen/emission/common/v1/order_pb.js";
import type { FreshRecord } from "../codes/index.js";
import { currentTraceparent, withTrace } from "../telemetry/index.js";

/** What every role's order record holds, whatever else it tracks (Emission server, Registrar, OMS). */
export interface OrderRecordHeader {
  _id: string;
  /** The instance doing the record's background work, and until when (see WorkLease). */
  leaseOwner: string;
  leaseUntil: number;
  participantId: string;
  productionOrderId: string;
  /** The request id of the create that placed it. */
  requestId: string;
  status: number;
  totalCodes: number;
  totalBlocks: number;
  readyAt: number;
  /** Set once the codes of the finished order were dropped (see expireFinishedOrders). */
  codesPurged?: boolean;
  /** W3C traceparent of the call that created it: its background work (6.1, 10.1, 14.1) joins the order's trace, on any instance. */
  traceparent?: string;
  createdAt: number;
  updatedAt: number;
}

/** A close or cancel travelling down the chain. */
export type EndKind = "close" | "cancel";

/** The record of a forwarding hop (OMS, Registrar): codes fetched from below, ends sent below. */
export interface HopRecordDoc extends OrderRecordHeader {
  /** A close or cancel not yet confirmed by the role below. */
  pending?: EndKind | undefined;
  /** Request id the pending message goes down with. */
  pendingRequestId?: string | undefined;
}

/** The readiness of an order as every role tells it (step 6's estimate, passed up). */
export function readinessOf(r: Pick<OrderRecordHeader, "totalCodes" | "totalBlocks" | "readyAt">): Readiness {
  return create(ReadinessSchema, {
    totalCodes: BigInt(r.totalCodes),
    totalBlocks: r.totalBlocks,
    estimatedReadyTime: timestampFromMs(r.readyAt),
  });
}

/** The reply of the role below to a create: the order id and its readiness. */
export interface CreatedBelow {
  orderId: string;
  readiness?: Readiness | undefined;
}

/** What makes a create reply from below unusable (for checkReply), or undefined. */
export function incompleteCreateReply(r: CreatedBelow): string | undefined {
  return r.orderId === "" ? "no order id" : r.readiness === undefined ? "no readiness" : undefined;
}

/**
 * The header of a new hop record for the order the role below created, its
 * filling leased to `lease` (the instance that creates it and starts filling
 * it at once: its first acquire is then a renewal, not a take through a fence),
 * or to nobody.
 */
export function newHopRecord(
  reply: CreatedBelow,
  placed: Pick<OrderRecordHeader, "participantId" | "productionOrderId" | "requestId">,
  now: number,
  lease: Pick<OrderRecordHeader, "leaseOwner" | "leaseUntil"> = { leaseOwner: "", leaseUntil: 0 },
): Omit<HopRecordDoc, "status"> {
  const ready = reply.readiness?.estimatedReadyTime;
  return {
    _id: reply.orderId,
    leaseOwner: lease.leaseOwner,
    leaseUntil: lease.leaseUntil,
    ...placed,
    totalCodes: Number(reply.readiness?.totalCodes ?? 0n),
    totalBlocks: reply.readiness?.totalBlocks ?? 0,
    readyAt: ready === undefined ? now : timestampMs(ready),
    ...withTrace(currentTraceparent()),
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * What the filler may take from a record without reading it back
 * (CodeFiller.fill): only when this call inserted it, that is when
 * insertOrLoad gave back the very record it was given; a retransmission
 * that found a record stored before reads it as usual.
 */
export function freshRecordOf(stored: HopRecordDoc, created: HopRecordDoc): FreshRecord | undefined {
  return stored === created
    ? { leaseOwner: created.leaseOwner, leaseUntil: created.leaseUntil, traceparent: created.traceparent }
    : undefined;
}
