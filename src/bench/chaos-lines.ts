import { pino } from "pino";
import { Apcs, type OrderSpecInit } from "../apcs/apcs-client.js";
import { parseAddress } from "../core/config.js";
import { createDownstreamTransport } from "../core/process/index.js";
import { gtinCheckDigit } from "../domain/gtin.js";
import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import type { ActivityLog } from "./recovery-times.js";

/** One order of the run: its request id (the line's CreateOrder x-request-id) and spec. */
export interface PlannedOrder {
  requestId: string;
  spec: OrderSpecInit;
  quantity: number;
}

/** Sizes cycled through, one or two products; every fourth order has SELF_MADE serials. */
const SIZES = [1_500, 6_000, 400, 12_000, 3_000, 800, 20_000, 2_500];

const SELF_MADE_MAX = 3_000;

/** N orders of mixed sizes and both serial types, on GTINs of this run only (serials never repeat across runs). */
export function planOrders(n: number, runId: string): PlannedOrder[] {
  const base = String(Date.now() % 100_000).padStart(5, "0");
  return Array.from({ length: n }, (_, i) => {
    const selfMade = i % 4 === 3;
    // SELF_MADE orders carry their serials in the request: kept small, as the line would send them.
    const size = Math.min(SIZES[i % SIZES.length] ?? 1_000, selfMade ? SELF_MADE_MAX : Infinity);
    const products = (i % 3 === 2 && size >= 1_000 ? [Math.floor(size / 2), size - Math.floor(size / 2)] : [size]).map((quantity, p) => {
      const body = `046${base}${String(i * 2 + p).padStart(5, "0")}`;
      const gtin = body + String(gtinCheckDigit(body));
      const serials = selfMade ? Array.from({ length: quantity }, (_, k) => `S${runId.slice(-4)}${String(k).padStart(8, "0")}`) : [];
      return {
        gtin,
        quantity,
        serialNumberType: selfMade ? SerialNumberType.SELF_MADE : SerialNumberType.OPERATOR,
        serialNumbers: serials,
        templateId: 6,
        cisType: CisType.UNIT,
      };
    });
    return {
      requestId: `chaos-${runId}-${String(i + 1).padStart(4, "0")}`,
      spec: {
        productGroup: ProductGroup.MILK,
        releaseMethodType: ReleaseMethodType.PRODUCTION,
        productionOrderId: `chaos-${runId}-${i + 1}`,
        products,
      },
      quantity: size,
    };
  });
}

/** A line controller of the run, with what it did for the recovery figures. */
export interface Line {
  apcs: Apcs;
  activities: ActivityLog[];
}

export async function openLine(omsAddress: string, token: string): Promise<Line> {
  const apcs = await Apcs.open({
    transport: createDownstreamTransport({ address: parseAddress(omsAddress), token, maxMessageBytes: 64 << 20 }),
    log: pino({ level: "silent" }),
    callTimeoutMs: 5_000,
    // A line keeps trying through every kill: the run bounds it by its own deadline.
    retransmit: { attempts: 1_000, initialBackoffMs: 100, maxBackoffMs: 500 },
  });
  return { apcs, activities: [] };
}

/** Runs `work` as an activity: its start, its progress and its end are logged. */
async function activity<T>(line: Line, what: string, work: (progress: () => void) => Promise<T>, call = true): Promise<T> {
  const log: ActivityLog = { what, call, events: [Date.now()] };
  line.activities.push(log);
  try {
    return await work(() => log.events.push(Date.now()));
  } finally {
    log.endedAt = Date.now();
  }
}

/**
 * One order, end to end: placed, every code received and acknowledged,
 * closed. Returns the order id; the codes stay in the line's store.
 */
export async function runOrder(line: Line, order: PlannedOrder, signal: AbortSignal): Promise<string> {
  const n = order.requestId.slice(-4);
  const placed = await activity(line, `CreateOrder ${n}`, () => line.apcs.placeOrder(order.spec, order.requestId));
  // The order id's head too: the role logs (--log-dir) name orders by id.
  await activity(
    line,
    `codes of ${n} (${placed.orderId.slice(0, 8)})`,
    (progress) => line.apcs.receiveCodes(placed.orderId, { signal, onBlock: progress }),
    false,
  );
  await activity(line, `CloseOrder ${n}`, () => line.apcs.closeOrder(placed.orderId));
  return placed.orderId;
}

/** Every code the line stored for the order. */
export async function codesOf(line: Line, orderId: string): Promise<string[]> {
  const codes: string[] = [];
  for await (const block of line.apcs.codes(orderId)) codes.push(...block.codes);
  return codes;
}
