import { pino } from "pino";
import { Apcs, type OrderSpecInit } from "../apcs/apcs-client.js";
import { MAX_MESSAGE_BYTES, parseAddress, urlOf } from "../core/config.js";
import { createDownstreamTransport, GuardedSessionManager } from "../core/process/index.js";
import { gtinCheckDigit } from "../domain/gtin.js";
import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { lineToken } from "./bench-mesh.js";
import { failed, tallyingDestination } from "./failed-calls.js";

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
  const sessions = new GuardedSessionManager(urlOf(parseAddress(address)));
  const transport = createDownstreamTransport({
    address: parseAddress(address),
    token: lineToken(n),
    maxMessageBytes: MAX_MESSAGE_BYTES,
    sessionManager: sessions,
  });
  const apcs = await Apcs.open({ transport, log: pino({ level: "warn" }, tallyingDestination), storeCodes: false });
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
  ordered: number;
  /** Codes received: all of them, unless the scenario's deadline cut the stream. */
  received: number;
  /** CreateOrder round trip. */
  placedMs: number;
  /** Every code received and acknowledged, or the stream cut at the deadline. */
  doneMs: number;
}

/**
 * How long the bench waits for a CloseOrder or CancelOrder of an order it is
 * done with before it moves on (the call goes on meanwhile, and a failure is
 * still tallied): on a chain that takes minutes to close, the scenarios stay bounded.
 */
const SETTLE_WAIT_MS = 5_000;

export async function settle(what: string, call: Promise<unknown>): Promise<void> {
  const settled = call.then(
    () => undefined,
    (err: unknown) => failed(what, err),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      failed(`${what} (no answer within ${SETTLE_WAIT_MS / 1000} s; the bench moved on)`, new Error("still waiting"));
      resolve();
    }, SETTLE_WAIT_MS);
  });
  await Promise.race([settled, late]);
  clearTimeout(timer);
}

/** Closes an order the bench is done with; a failure is tallied, not thrown. */
export function closeQuietly(line: Line, orderId: string): Promise<void> {
  return settle("CloseOrder", line.apcs.closeOrder(orderId));
}

/**
 * Places an order, receives every code and acknowledges them, then closes it
 * (the close is not timed). When `deadline` fires first, the stream is cut,
 * what came so far counts, and the order is cancelled so that it stops loading the chain.
 */
export async function runOrder(line: Line, quantity: number, deadline?: AbortSignal): Promise<OrderRun> {
  const t0 = performance.now();
  const order = await line.apcs.placeOrder(benchOrder(quantity));
  const placedMs = performance.now() - t0;
  try {
    await line.apcs.receiveCodes(order.orderId, deadline === undefined ? {} : { signal: deadline });
  } catch (err) {
    if (deadline?.aborted !== true) throw err;
    const doneMs = performance.now() - t0;
    // Counted from the line's own record of the order: no block is decoded to count its codes.
    const received = (await line.apcs.savedOrder(order.orderId)).storedCodes;
    await settle("CancelOrder", line.apcs.cancelOrder({ orderId: order.orderId }, "bench: deadline"));
    return { ordered: quantity, received, placedMs, doneMs };
  }
  const doneMs = performance.now() - t0;
  await closeQuietly(line, order.orderId);
  return { ordered: quantity, received: quantity, placedMs, doneMs };
}

/**
 * CreateOrder round trips (ms) of small orders placed one after another until
 * `until` says stop. Each is closed right after it is timed (`closeEach`), or
 * all of them at the end, so that closing is no part of a load being probed
 * (keep them within MAX_ACTIVE_ORDERS then). A CreateOrder that fails is tallied, not timed.
 */
export async function createLatencies(line: Line, until: (attempts: number) => boolean, closeEach: boolean): Promise<number[]> {
  const times: number[] = [];
  const open: string[] = [];
  for (let attempts = 0; !until(attempts); attempts++) {
    const t0 = performance.now();
    try {
      const { orderId } = await line.apcs.placeOrder(benchOrder(PROBE_CODES));
      times.push(performance.now() - t0);
      if (closeEach) await closeQuietly(line, orderId);
      else open.push(orderId);
    } catch (err) {
      failed("CreateOrder (latency probe)", err);
    }
  }
  await Promise.all(open.map((orderId) => closeQuietly(line, orderId)));
  return times;
}

/** Codes of each order placed to time CreateOrder. */
const PROBE_CODES = 10;

/** The value below which `p` percent of `values` lie (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
