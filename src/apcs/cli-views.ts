import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ProductGroupSchema } from "../gen/emission/common/v1/order_pb.js";
import { BufferStatusSchema, OrderStatusSchema } from "../gen/emission/common/v1/status_pb.js";
import type { JournalEntry } from "../gen/emission/journal/v1/journal_pb.js";
import type { Order } from "../gen/emission/oms/v1/oms_pb.js";
import { enumLabel } from "./cli-enums.js";
import { count, type Colors } from "./cli-io.js";

/** An order as the CLI prints it, for people and for --json alike: plain numbers, short enum names. */
export interface OrderView {
  orderId: string;
  participantId: string;
  productionOrderId: string;
  productGroup: string;
  status: string;
  bufferStatus: string;
  totalCodes: number;
  availableCodes: number;
  deliveredCodes: number;
  totalBlocks: number;
  receivedBlocks: number;
  deliveredBlocks: number;
  estimatedReadyTime: string | null;
  createTime: string | null;
  updateTime: string | null;
}

function iso(ts: Timestamp | undefined): string | null {
  return ts === undefined ? null : timestampDate(ts).toISOString();
}

export function groupLabel(group: number): string {
  return enumLabel(ProductGroupSchema, group).toLowerCase();
}

export function orderView(o: Order): OrderView {
  return {
    orderId: o.orderId,
    participantId: o.participantId,
    productionOrderId: o.productionOrderId,
    productGroup: groupLabel(o.productGroup),
    status: enumLabel(OrderStatusSchema, o.status),
    bufferStatus: enumLabel(BufferStatusSchema, o.bufferStatus),
    // Orders hold at most 10 × 150 000 codes: far inside a double.
    totalCodes: Number(o.totalCodes),
    availableCodes: Number(o.availableCodes),
    deliveredCodes: Number(o.deliveredCodes),
    totalBlocks: o.readiness?.totalBlocks ?? 0,
    receivedBlocks: o.receivedBlocks,
    deliveredBlocks: o.deliveredBlocks,
    estimatedReadyTime: iso(o.readiness?.estimatedReadyTime),
    createTime: iso(o.createTime),
    updateTime: iso(o.updateTime),
  };
}

const GOOD = new Set(["READY", "CLOSED", "EXHAUSTED"]);
const BAD = new Set(["DECLINED", "EXPIRED", "CANCELLED", "REJECTED"]);

export function statusColor(label: string, c: Colors): string {
  if (GOOD.has(label)) return c.green(label);
  if (BAD.has(label)) return c.red(label);
  return c.yellow(label);
}

/** Label/value lines, labels padded to one column. */
export function table(rows: readonly (readonly [string, string])[], c: Colors): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${c.dim(label.padEnd(width))}  ${value}`).join("\n");
}

export function formatOrder(v: OrderView, c: Colors): string {
  return [
    `${c.bold("order")} ${c.cyan(v.orderId)}`,
    table(
      [
        ["production order", v.productionOrderId],
        ["product group", v.productGroup],
        ["status", `${statusColor(v.status, c)} (buffer ${statusColor(v.bufferStatus, c)})`],
        ["codes", `${count(v.totalCodes)} total, ${count(v.availableCodes)} available, ${count(v.deliveredCodes)} delivered`],
        ["blocks", `${count(v.receivedBlocks)} received, ${count(v.deliveredBlocks)} delivered of ${count(v.totalBlocks)}`],
        ["ready at", v.estimatedReadyTime ?? "-"],
        ["created", v.createTime ?? "-"],
        ["updated", v.updateTime ?? "-"],
      ],
      c,
    ),
  ].join("\n");
}

/** One line of `watch`: what changed is visible by comparing consecutive lines. */
export function formatWatchLine(v: OrderView, c: Colors): string {
  const time = v.updateTime ?? new Date().toISOString();
  return (
    `${c.dim(time)} ${statusColor(v.status, c)} buffer=${statusColor(v.bufferStatus, c)} ` +
    `codes ${count(v.deliveredCodes)}/${count(v.totalCodes)} delivered, ${count(v.availableCodes)} available; ` +
    `blocks ${v.receivedBlocks}/${v.totalBlocks} received`
  );
}

export interface JournalView {
  id: string;
  time: string | null;
  role: string;
  step: string;
  orderId: string;
  requestId: string;
  participantId: string;
  code: string;
  message: string;
  cause: string;
}

export function journalView(e: JournalEntry): JournalView {
  return {
    id: e.id,
    time: iso(e.time),
    role: e.role,
    step: e.step,
    orderId: e.orderId,
    requestId: e.requestId,
    participantId: e.participantId,
    code: e.code,
    message: e.message,
    cause: e.cause,
  };
}

export function formatJournalEntry(v: JournalView, c: Colors): string {
  const head = `${c.dim(v.time ?? "-")} ${v.role} step ${c.bold(v.step)} order ${c.cyan(v.orderId || "-")} request ${v.requestId || "-"}`;
  const lines = [head, `  ${c.red(v.code)}: ${v.message}`];
  if (v.cause !== "") lines.push(`  cause: ${v.cause}`);
  return lines.join("\n");
}
