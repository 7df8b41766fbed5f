import { Command, InvalidArgumentError } from "commander";
import { setMaxListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { startLocalFerretDb, type LocalMongo } from "../store/local-ferretdb.js";
import { checkChaos, type Violation } from "./chaos-checks.js";
import { codesOf, openLine, planOrders, runOrder, type Line, type PlannedOrder } from "./chaos-lines.js";
import { startChaosMesh, type ChaosMesh, type Slot } from "./chaos-mesh.js";
import { dropRun, emissionRecords, ordersPerRequest, refusedByServer } from "./chaos-stores.js";
import { percentile, recoveryTimes, slowestAfter } from "./recovery-times.js";

/**
 * `npm run chaos`: N orders of mixed sizes and both serial types from
 * several line controllers, while every role (two instances each, on one
 * database per role) is killed with SIGKILL and started again at random.
 * Prints what arrived where and the recovery times after kills; exits
 * non-zero on any violated invariant. FerretDB by default, MONGODB_URI if set.
 */
interface ChaosOptions {
  orders: number;
  lines: number;
  kills: number;
  duration: number;
  deadline: number;
  killEvery: number;
  instances: number;
  logDir?: string;
}

const FERRETDB = fileURLToPath(new URL("../../.cache/tools/bin/ferretdb", import.meta.url));
/** Line-controller tokens of the development token set: two participants. */
const LINE_TOKENS = ["dev-apcs", "dev-apcs-2"];

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive integer`);
  return n;
}

function options(argv: readonly string[]): ChaosOptions {
  return new Command("chaos")
    .description("kill -9 every role at random while line controllers place and receive orders; check every invariant")
    .option("--orders <n>", "orders to place", positive, 20)
    .option("--lines <n>", "line controllers placing them in parallel", positive, 3)
    .option("--kills <n>", "most kills (one kill may take down several instances)", positive, 20)
    .option("--kill-every <ms>", "mean pause between kills (restarts come on top)", positive, 3_000)
    .option("--duration <s>", "longest kill phase, in seconds", positive, 150)
    .option("--deadline <s>", "the run gives up (and fails) after this many seconds", positive, 360)
    .option("--instances <n>", "instances of each role", positive, 2)
    .option("--log-dir <dir>", "keep every role's JSON log lines (level info) in <dir>/<instance>.log")
    .parse([...argv], { from: "node" })
    .opts<ChaosOptions>();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

/** Mostly one instance; sometimes both of a role, or one of every role at once. */
function victims(slots: readonly Slot[]): Slot[] {
  const r = Math.random();
  if (r < 0.12) {
    const role = pick(slots).role;
    return slots.filter((s) => s.role === role);
  }
  if (r < 0.2) return [...new Set(slots.map((s) => s.role))].map((role) => pick(slots.filter((s) => s.role === role)));
  return [pick(slots)];
}

interface Kill {
  at: number;
  who: string;
}

async function killLoop(mesh: ChaosMesh, o: ChaosOptions, done: () => boolean, kills: Kill[], t0: number): Promise<number> {
  const until = Date.now() + o.duration * 1000;
  let instances = 0;
  while (kills.length < o.kills && !done() && Date.now() < until) {
    await sleep(o.killEvery * (0.5 + Math.random()));
    if (done()) break;
    const hit = victims(mesh.slots);
    await Promise.all(hit.map((s) => mesh.kill(s)));
    kills.push({ at: Date.now(), who: hit.map((s) => s.name).join(" + ") });
    instances += hit.length;
    // The wall-clock time too, to match the kill with the role logs (--log-dir).
    console.log(
      `  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  kill -9 ${hit.map((s) => s.name).join(" + ")}  (${new Date().toISOString()})`,
    );
    await sleep(Math.random() * 1_000);
    await Promise.all(hit.map((s) => mesh.restart(s)));
  }
  return instances;
}

async function runLines(lines: Line[], orders: PlannedOrder[], signal: AbortSignal): Promise<Map<string, { line: Line; orderId: string }>> {
  const placed = new Map<string, { line: Line; orderId: string }>();
  await Promise.all(
    lines.map(async (line, i) => {
      for (const order of orders.filter((_, k) => k % lines.length === i)) {
        if (signal.aborted) return;
        placed.set(order.requestId, { line, orderId: await runOrder(line, order, signal) });
      }
    }),
  );
  return placed;
}

function row(label: string, value: string | number): void {
  console.log(`| ${label} | ${value} |`);
}

async function report(o: {
  orders: PlannedOrder[];
  placed: Map<string, { line: Line; orderId: string }>;
  lines: Line[];
  kills: Kill[];
  killed: number;
  uri: string;
  prefix: string;
  mesh: ChaosMesh;
  seconds: number;
}): Promise<Violation[]> {
  const t = Date.now();
  const received = new Map<string, string[]>();
  for (const [requestId, { line, orderId }] of o.placed) received.set(requestId, await codesOf(line, orderId));
  console.log(`  codes read back in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const records = await emissionRecords(o.uri, o.prefix);
  console.log(`  registry read in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const all = [...received.values()].flat();
  const unverifiable = all.filter((c) => !records.verify(c)).length;
  const sample = Array.from({ length: Math.min(50, all.length) }, () => pick(all));
  const refused = await refusedByServer(o.mesh.emissionAddress, "dev-registrar", sample);
  console.log(`  verified in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const perRequest = await ordersPerRequest(o.uri, o.prefix);
  const violations = checkChaos({
    ordered: new Map(o.orders.map((p) => [p.requestId, p.quantity])),
    received,
    ordersPerRequest: perRequest,
    registry: records.registry,
    unverifiable: unverifiable + refused,
  });
  const activities = o.lines.flatMap((l) => l.activities);
  const end = Date.now();
  const times = recoveryTimes(
    o.kills.map((k) => k.at),
    activities,
    end,
  );
  const perKill = o.kills.map((k) => {
    const slowest = slowestAfter(k.at, activities, end);
    return `${k.who} ${((slowest?.ms ?? 0) / 1000).toFixed(1)} s${slowest === undefined ? "" : ` (${slowest.what})`}`;
  });
  const ordered = o.orders.reduce((n, p) => n + p.quantity, 0);
  const complete = o.orders.filter((p) => received.get(p.requestId)?.length === p.quantity).length;
  console.log(`\n| measure | value |\n|---|---|`);
  row("run time", `${o.seconds.toFixed(0)} s`);
  row("kills (instances killed)", `${o.kills.length} (${o.killed})`);
  row(
    "orders completed",
    `${complete} / ${o.orders.length} (${o.orders.filter((p) => p.spec.products?.some((x) => (x.serialNumbers ?? []).length > 0)).length} SELF_MADE)`,
  );
  for (const { hop, counts } of perRequest)
    row(
      `${hop}: request ids / orders / most orders per request id`,
      `${counts.size} / ${[...counts.values()].reduce((a, b) => a + b, 0)} / ${Math.max(0, ...counts.values())}`,
    );
  row("codes received / ordered", `${all.length} / ${ordered}`);
  row("duplicate codes", all.length - new Set(all).size);
  row("serial registry / codes emitted", `${records.registry.size} / ${new Set(all).size}`);
  row(
    "codes failing verification (all, with the stored ring; VerifyCode on a sample)",
    `${unverifiable} of ${all.length}; ${refused} of ${sample.length}`,
  );
  console.log(`\nrecovery per kill (the call or stream slowest to move again):\n  ${perKill.join("\n  ")}\n`);
  row(
    "recovery after a kill: p50 / p95 / p99 / max",
    `${[50, 95, 99, 100].map((p) => `${(percentile(times, p) / 1000).toFixed(2)} s`).join(" / ")} (${times.length} kills that hit moving work)`,
  );
  return violations;
}

async function main(): Promise<void> {
  const o = options(process.argv);
  const runId = Date.now().toString(36);
  const prefix = `chaos-${runId}-`;
  const external = process.env.MONGODB_URI;
  const local: LocalMongo | undefined = external === undefined || external === "" ? await startLocalFerretDb(FERRETDB) : undefined;
  const uri = local?.uri ?? external ?? "";
  console.log(
    `chaos run ${runId}: ${o.orders} orders, ${o.lines} line controllers, ${o.instances} instances per role, up to ${o.kills} kills, on ${local === undefined ? "MONGODB_URI" : "FerretDB (SQLite)"}`,
  );
  const started = Date.now();
  // Exiting (not dying of a signal) is what takes the role processes and FerretDB down with the run.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  const deadline = setTimeout(() => {
    console.error(`FAILED: the run did not finish within ${o.deadline} s`);
    process.exit(2); // role processes and FerretDB are killed on exit
  }, o.deadline * 1000);
  const mesh = await startChaosMesh({
    uri,
    prefix,
    instances: { "emission-server": o.instances, registrar: o.instances, oms: o.instances },
    env: o.logDir === undefined ? {} : { LOG_LEVEL: "info" },
    ...(o.logDir === undefined ? {} : { logDir: o.logDir }),
  });
  console.log(`  mesh up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const lines = await Promise.all(
    Array.from({ length: o.lines }, (_, i) => openLine(mesh.omsAddress, LINE_TOKENS[i % LINE_TOKENS.length] ?? "dev-apcs")),
  );
  const orders = planOrders(o.orders, runId);
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per code stream of the run
  const t0 = Date.now();
  let finished = false;
  try {
    const kills: Kill[] = [];
    const running = runLines(lines, orders, stop.signal).finally(() => (finished = true));
    const killed = await killLoop(mesh, o, () => finished, kills, t0);
    const placed = await running;
    const seconds = (Date.now() - t0) / 1000;
    const violations = await report({ orders, placed, lines, kills, killed, uri, prefix, mesh, seconds });
    for (const v of violations) console.log(`VIOLATION ${v.invariant}: ${v.detail}`);
    console.log(violations.length === 0 ? "\nall invariants hold" : `\nFAILED: ${violations.length} violations`);
    process.exitCode = violations.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    stop.abort();
    await Promise.all(lines.map((l) => l.apcs.close()));
    const stopping = Date.now();
    await mesh.stop();
    console.log(`  mesh stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
    if (local !== undefined) await local.stop();
    else await dropRun(uri, prefix);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
