import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { Apcs } from "../apcs/apcs-client.js";
import { MAX_MESSAGE_BYTES, parseAddress } from "../core/config.js";
import { createDownstreamTransport, type RoleProcess, SERVER_ROLES, startRoleProcess } from "../core/process/index.js";
import { encodeBlock, encodedResponse, readEncodedBlock } from "../core/codes/index.js";
import { GS } from "../domain/code-format.js";
import { gtinCheckDigit } from "../domain/gtin.js";
import { CisType, CodeBlockSchema, ProductGroup, ReleaseMethodType, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { StreamCodesResponseSchema } from "../gen/emission/oms/v1/oms_pb.js";

/**
 * `npm run bench`: the three roles as processes on loopback, driven by the
 * APCS library. Reports end-to-end throughput and memory for one 150 000-code
 * order, CreateOrder latency, and what one hop spends on a block. Figures
 * only: nothing here passes or fails.
 */
const BIG_ORDER = 150_000;
const SMALL_ORDERS = 200;

function milk(quantity: number, n: number) {
  const body = `0460${String(process.pid % 10_000).padStart(4, "0")}${String(n).padStart(5, "0")}`;
  const gtin = body + String(gtinCheckDigit(body));
  return {
    productGroup: ProductGroup.MILK,
    releaseMethodType: ReleaseMethodType.PRODUCTION,
    productionOrderId: `bench-${n}`,
    products: [{ gtin, quantity, serialNumberType: SerialNumberType.OPERATOR, templateId: 6, cisType: CisType.UNIT }],
  };
}

/** Peak resident memory of a process, from the kernel's high-water mark. */
function peakRssMiB(p: RoleProcess): number {
  const status = readFileSync(`/proc/${p.child.pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function startMesh(): Promise<RoleProcess[]> {
  const env = { ...process.env, LOG_LEVEL: "warn", EMISSION_RATE: "10000000" };
  const started: RoleProcess[] = [];
  for (const role of SERVER_ROLES) {
    const below = started.at(-1);
    const args = below === undefined ? [] : [below.role === "emission-server" ? "--emission-server" : "--registrar", below.address];
    started.push(await startRoleProcess(role, { env, listen: "127.0.0.1:0", args }));
  }
  return started;
}

async function bigOrder(apcs: Apcs, roles: RoleProcess[]): Promise<void> {
  const t0 = performance.now();
  const order = await apcs.placeOrder(milk(BIG_ORDER, 1));
  const placed = performance.now();
  let first = 0;
  await apcs.receiveCodes(order.orderId, {
    onBlock: () => {
      first ||= performance.now();
    },
  });
  const done = performance.now();
  await apcs.closeOrder(order.orderId);
  const seconds = (done - t0) / 1000;
  const store = process.env.MONGODB_URI === undefined ? "embedded store" : "MongoDB at MONGODB_URI";
  console.log(`\n150 000-code order, three processes on loopback, ${store} (block size 1 000, emission rate unthrottled):`);
  console.log(`| measure | value |\n|---|---|`);
  console.log(`| CreateOrder round trip (APCS → OMS → Registrar → Emission server) | ${(placed - t0).toFixed(1)} ms |`);
  console.log(`| first block stored at APCS | ${(first - t0).toFixed(0)} ms |`);
  console.log(`| all ${BIG_ORDER} codes stored and acknowledged at APCS | ${(seconds * 1000).toFixed(0)} ms |`);
  console.log(`| end-to-end throughput | ${Math.round(BIG_ORDER / seconds)} codes/s |`);
  for (const r of roles) console.log(`| peak RSS of ${r.role} | ${peakRssMiB(r).toFixed(0)} MiB |`);
  console.log(
    `| peak RSS of the APCS process (embedded store: it keeps every code) | ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB |`,
  );
}

async function createLatency(apcs: Apcs): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < SMALL_ORDERS; i++) {
    const t0 = performance.now();
    const order = await apcs.placeOrder(milk(10, 100 + i));
    times.push(performance.now() - t0);
    await apcs.closeOrder(order.orderId);
  }
  times.sort((a, b) => a - b);
  console.log(`\nCreateOrder latency, ${SMALL_ORDERS} sequential 10-code orders through the three hops:`);
  console.log(`| p50 | p95 | p99 | max |\n|---|---|---|---|`);
  console.log(`| ${[50, 95, 99, 100].map((p) => `${percentile(times, p).toFixed(2)} ms`).join(" | ")} |`);
}

/**
 * What one hop spends on a 1 000-code block it passes on, in this process:
 * decoding the response and encoding it again (each hop before blocks were
 * kept encoded) against reading the block's header and sending its bytes.
 */
function hopCost(): void {
  const codes = Array.from(
    { length: 1_000 },
    (_, i) => `0104600000000017215${String(i).padStart(12, "0")}${GS}91EK01${GS}92${"x".repeat(44)}`,
  );
  const block = create(CodeBlockSchema, { orderId: "o", seq: 1, blockId: "o/1", gtin: "04600000000017", codes });
  const bytes = toBinary(StreamCodesResponseSchema, create(StreamCodesResponseSchema, { block }));
  const wire = encodeBlock(block).wire;
  const paths: [string, () => void][] = [
    ["decoded and encoded again", () => toBinary(StreamCodesResponseSchema, fromBinary(StreamCodesResponseSchema, bytes))],
    [
      "kept encoded (header read, bytes sent)",
      () => toBinary(StreamCodesResponseSchema, encodedResponse(StreamCodesResponseSchema, readEncodedBlock(wire.slice()))),
    ],
  ];
  console.log(`\nOne hop passing on a 1 000-code block (${bytes.length} bytes), in one process:`);
  console.log(`| path | per block | codes/s per core |\n|---|---|---|`);
  for (const [name, pass] of paths) {
    const n = 1_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) pass();
    const ms = (performance.now() - t0) / n;
    console.log(`| ${name} | ${ms.toFixed(2)} ms | ${Math.round(1_000_000 / ms)} |`);
  }
}

async function main(): Promise<void> {
  hopCost();
  const roles = await startMesh();
  const oms = roles.find((r) => r.role === "oms");
  if (oms === undefined) throw new Error("OMS did not start");
  const apcs = await Apcs.open({
    transport: createDownstreamTransport({
      address: parseAddress(oms.address),
      token: process.env.APCS_TOKEN ?? "dev-apcs",
      maxMessageBytes: MAX_MESSAGE_BYTES,
    }),
    log: pino({ level: "warn" }),
  });
  try {
    await bigOrder(apcs, roles);
    await createLatency(apcs);
  } finally {
    await apcs.close();
    await Promise.all(roles.map((r) => r.stop()));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
