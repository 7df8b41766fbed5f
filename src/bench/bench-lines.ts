import { Http2SessionManager } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Apcs, type OrderSpecInit } from "../apcs/apcs-client.js";
import { MAX_MESSAGE_BYTES, parseAddress, urlOf } from "../core/config.js";
import { createDownstreamTransport } from "../core/process/index.js";
import { gtinCheckDigit } from "../domain/gtin.js";
import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { lineToken } from "./bench-mesh.js";

/**
 * The load generator of every scenario, the same for the mesh and the relay:
 * line controllers of the APCS library, each on its own HTTP/2 connection
 * with its own token. Lines do not keep the codes (storeCodes off, as the
 * CLI's --out): the bench process shares the machine's cores with the hops.
 */
export interface Line {
  apcs: Apcs;
  close(): Promise<void>;
}

let orders = 0;

/** A one-product MILK order of `quantity` OPERATOR codes, with a GTIN of its own. */
export function benchOrder(quantity: number): OrderSpecInit {
  const n = ++orders;
  const body = `0460${String(process.pid % 10_000).padStart(4, "0")}${String(n).padStart(5, "0")}`;
  return {
    productGroup: ProductGroup.MILK,
    releaseMethodType: ReleaseMethodType.PRODUCTION,
    productionOrderId: `bench-${n}`,
    products: [
      {
        gtin: body + String(gtinCheckDigit(body)),
        quantity,
        serialNumberType: SerialNumberType.OPERATOR,
        templateId: 6,
        cisType: CisType.UNIT,
      },
    ],
  };
}

/** Line `n` (1-based: its token and participant) dialling OMS at `address`. */
export async function openLine(address: string, n: number): Promise<Line> {
  const sessions = new Http2SessionManager(urlOf(parseAddress(address)));
  const transport = createDownstreamTransport({
    address: parseAddress(address),
    token: lineToken(n),
    maxMessageBytes: MAX_MESSAGE_BYTES,
    sessionManager: sessions,
  });
  const apcs = await Apcs.open({ transport, log: pino({ level: "warn" }), storeCodes: false });
  return {
    apcs,
    async close() {
      await apcs.close();
      sessions.abort();
    },
  };
}

/** Lines 1..count (from `first`), opened together. */
export function openLines(address: string, count: number, first = 1): Promise<Line[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => openLine(address, first + i)));
}

export async function closeLines(lines: readonly Line[]): Promise<void> {
  await Promise.all(lines.map((l) => l.close()));
}

/** How one order went, in ms from the moment it was placed. */
export interface OrderRun {
  codes: number;
  /** CreateOrder round trip. */
  placedMs: number;
  /** Every code received and acknowledged. */
  doneMs: number;
}

/** Places an order, receives every code and acknowledges them, then closes it (the close is not timed). */
export async function runOrder(line: Line, quantity: number): Promise<OrderRun> {
  const t0 = performance.now();
  const order = await line.apcs.placeOrder(benchOrder(quantity));
  const placedMs = performance.now() - t0;
  await line.apcs.receiveCodes(order.orderId);
  const doneMs = performance.now() - t0;
  await line.apcs.closeOrder(order.orderId);
  return { codes: quantity, placedMs, doneMs };
}

/** CreateOrder round trips (ms) of small orders placed one after another (each closed at once), until `until` says stop. */
export async function createLatencies(line: Line, until: (placed: number) => boolean, codes = 10): Promise<number[]> {
  const times: number[] = [];
  while (!until(times.length)) {
    const t0 = performance.now();
    const order = await line.apcs.placeOrder(benchOrder(codes));
    times.push(performance.now() - t0);
    await line.apcs.closeOrder(order.orderId);
  }
  return times;
}

/** The value below which `p` percent of `values` lie (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
