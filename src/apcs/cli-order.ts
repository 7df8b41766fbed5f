import { performance } from "node:perf_hooks";
import { newRequestId } from "../core/rpc/index.js";
import { CisTypeSchema, ProductGroupSchema, ReleaseMethodTypeSchema } from "../gen/emission/common/v1/order_pb.js";
import type { Order } from "../gen/emission/oms/v1/oms_pb.js";
import type { OrderSpecInit } from "./apcs-client.js";
import { buildOrderSpec, defaultProductionOrderId, readSerials, splitSerials, type ProductArg } from "./cli-args.js";
import { CodeFile } from "./cli-code-file.js";
import { enumChoices } from "./cli-enums.js";
import { CommandFailure, Interrupted, UsageError, type FailureContext } from "./cli-errors.js";
import { colorsFor, count, counted, writeJson, writeLine, type CliIo, type Colors } from "./cli-io.js";
import { createProgress } from "./cli-progress-view.js";
import { openSession, type GlobalOptions, type Session } from "./cli-session.js";
import { orderView, statusColor, table, type OrderView } from "./cli-views.js";

export const GROUPS = enumChoices(ProductGroupSchema);
export const CIS_TYPES = enumChoices(CisTypeSchema);
export const RELEASE_METHODS = enumChoices(ReleaseMethodTypeSchema);

/** The `order` command's options as commander parsed them. */
export interface OrderOptions {
  group: string;
  product: ProductArg[];
  serialsFile?: string;
  cisType: string;
  release: string;
  productionOrderId?: string;
  requestId?: string;
  out?: string;
  close?: boolean;
  wait: boolean;
}

/** What `order` prints at the end (and, with --json, exactly this object). */
export interface OrderSummary {
  orderId: string;
  productionOrderId: string;
  requestId: string;
  productGroup: string;
  status: string;
  bufferStatus: string;
  totalCodes: number;
  codesReceived: number;
  blocks: number;
  elapsedMs: number;
  codesPerSecond: number;
  out: string | null;
  closed: boolean;
}

function choice(map: ReadonlyMap<string, number>, name: string, flag: string): number {
  const value = map.get(name);
  if (value === undefined) throw new UsageError(`${flag} ${JSON.stringify(name)} is not one of ${[...map.keys()].join(", ")}`);
  return value;
}

/** Step 1: the order as it will be sent, with every default filled in. */
export async function planOrder(o: OrderOptions): Promise<{ spec: OrderSpecInit; requestId: string }> {
  const serials =
    o.serialsFile === undefined
      ? undefined
      : splitSerials(
          await readSerials(o.serialsFile),
          o.product.map((p) => p.quantity),
        );
  const spec = buildOrderSpec({
    group: choice(GROUPS, o.group, "--group"),
    products: o.product,
    ...(serials === undefined ? {} : { serials }),
    cisType: choice(CIS_TYPES, o.cisType, "--cis-type"),
    release: choice(RELEASE_METHODS, o.release, "--release"),
    productionOrderId: o.productionOrderId ?? defaultProductionOrderId(),
  });
  return { spec, requestId: o.requestId ?? newRequestId() };
}

export async function runOrder(o: OrderOptions, g: GlobalOptions, io: CliIo): Promise<void> {
  const plan = await planOrder(o);
  // Opened before the order is placed, so a bad path costs no order.
  const file = o.out === undefined ? undefined : CodeFile.create(o.out);
  const session = await openSession(g, io);
  try {
    const summary = await placeAndReceive(session, plan, o, file, g, io);
    if (g.json) writeJson(io.stdout, summary);
    else writeLine(io.stdout, formatSummary(summary, o.wait, colorsFor(io.stdout, io.env)));
  } finally {
    file?.close();
    await session.close();
  }
}

async function placeAndReceive(
  s: Session,
  plan: { spec: OrderSpecInit; requestId: string },
  o: OrderOptions,
  file: CodeFile | undefined,
  g: GlobalOptions,
  io: CliIo,
): Promise<OrderSummary> {
  const started = performance.now();
  const placed = await s.apcs.placeOrder(plan.spec, plan.requestId).catch((err: unknown) => {
    throw new CommandFailure(err, { requestId: plan.requestId });
  });
  const context: FailureContext = { requestId: plan.requestId, orderId: placed.orderId };
  if (!o.wait) return summarize(orderView(placed), plan.requestId, { codes: 0, blocks: 0 }, elapsedSince(started), file, false);
  const got = await receive(s, placed, { file, json: g.json, io, context });
  const elapsedMs = elapsedSince(started);
  const close = o.close === true;
  const final = await (close ? s.apcs.closeOrder(placed.orderId) : s.apcs.getOrder(placed.orderId)).catch((err: unknown) => {
    throw new CommandFailure(err, {
      ...context,
      note: `all ${count(got.codes)} codes were received; ${close ? "closing" : "reading"} the order failed`,
    });
  });
  return summarize(orderView(final), plan.requestId, got, elapsedMs, file, close);
}

function elapsedSince(started: number): number {
  return Math.round(performance.now() - started);
}

interface ReceiveTo {
  file: CodeFile | undefined;
  json: boolean;
  io: CliIo;
  context: FailureContext;
}

/** Receives every code, writing each block to the file before it is acknowledged. */
async function receive(s: Session, order: Order, to: ReceiveTo): Promise<{ codes: number; blocks: number }> {
  const { file, io } = to;
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  io.signal?.addEventListener("abort", stop, { once: true });
  const progress = createProgress(io.stderr, to.json);
  const got = { codes: 0, blocks: 0 };
  let writeError: unknown;
  progress.start(Number(order.totalCodes));
  try {
    await s.apcs.receiveCodes(order.orderId, {
      signal: abort.signal,
      onBlock: (block, saved) => {
        try {
          file?.write(block.codes);
        } catch (err) {
          // Stop before this block is acknowledged: OMS keeps it, the file does not have it.
          writeError = err;
          abort.abort();
          throw err;
        }
        got.codes = saved.storedCodes;
        got.blocks += 1;
        progress.update(got.codes, got.blocks);
      },
    });
  } catch (err) {
    const note = `received ${count(got.codes)} of ${count(Number(order.totalCodes))} codes; order ${order.orderId} stays open at OMS`;
    if (io.signal?.aborted === true) throw new Interrupted(note);
    const cause = writeError === undefined ? err : new Error(`cannot write to ${file?.path ?? "--out"}: ${String(writeError)}`);
    throw new CommandFailure(cause, { ...to.context, note });
  } finally {
    progress.stop();
    io.signal?.removeEventListener("abort", stop);
  }
  return got;
}

function summarize(
  v: OrderView,
  requestId: string,
  got: { codes: number; blocks: number },
  elapsedMs: number,
  file: CodeFile | undefined,
  closed: boolean,
): OrderSummary {
  return {
    orderId: v.orderId,
    productionOrderId: v.productionOrderId,
    requestId,
    productGroup: v.productGroup,
    status: v.status,
    bufferStatus: v.bufferStatus,
    totalCodes: v.totalCodes,
    codesReceived: got.codes,
    blocks: got.blocks,
    elapsedMs,
    codesPerSecond: elapsedMs === 0 ? 0 : Math.round((got.codes * 1000) / elapsedMs),
    out: file?.path ?? null,
    closed,
  };
}

export function formatSummary(s: OrderSummary, waited: boolean, c: Colors): string {
  const complete = s.codesReceived === s.totalCodes;
  const head = waited
    ? `${complete ? c.green("✔") : c.yellow("!")} order ${c.bold(c.cyan(s.orderId))}: ${count(s.codesReceived)} codes received`
    : `${c.green("✔")} order ${c.bold(c.cyan(s.orderId))} placed`;
  const rows: [string, string][] = [
    ["production order", s.productionOrderId],
    ["product group", s.productGroup],
    ["status", `${statusColor(s.status, c)} (buffer ${statusColor(s.bufferStatus, c)})`],
    waited
      ? ["codes received", `${count(s.codesReceived)} of ${count(s.totalCodes)} in ${counted(s.blocks, "block")}`]
      : ["codes", `${count(s.totalCodes)} to come`],
    ["elapsed", `${(s.elapsedMs / 1000).toFixed(2)} s${waited ? `, ${count(s.codesPerSecond)} codes/s` : ""}`],
  ];
  if (s.out !== null) rows.push(["written to", s.out]);
  rows.push(["request id", s.requestId]);
  return `${head}\n${table(rows, c)}`;
}
