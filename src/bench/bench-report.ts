import { spread } from "./fairness-scenario.js";
import { percentile } from "./bench-lines.js";
import { atLeast, atMost, type Comparison, fmt, printComparisons, printTable, verdict } from "./bench-table.js";
import type { FairnessRun } from "./fairness-scenario.js";
import type { RssRun } from "./store-scenarios.js";
import type { BenchSizes, LoadRun, Throughput } from "./throughput-scenarios.js";

/** What one chain did in scenarios (a)–(c); a scenario left out by --only is absent. */
export interface ChainFigures {
  oneOrder?: Throughput;
  /** (b): the lines alone. */
  load?: Throughput;
  /** (c) under load: the lines of (b) again, with CreateOrder probed beside them. */
  probed?: LoadRun;
  alone?: number[];
}

/** The targets (issue 10), each shown beside the figure it is about. */
const TARGETS = {
  oneOrder: atLeast(2),
  lines: atLeast(1.5),
  createP50: atMost(1.2),
  ofRawInsert: atLeast(50, " %"),
  p99UnderLoadMs: atMost(250, " ms"),
  rssMiB: atMost(250, " MiB"),
  fairness: atMost(2),
};

function latencyRows(mesh: ChainFigures, relay: ChainFigures): Comparison[] {
  const rows: Comparison[] = [];
  const pair = (label: string, m: number[] | undefined, r: number[] | undefined, p: number, target?: Comparison["target"]): void => {
    if (m === undefined || r === undefined) return;
    rows.push({ measure: label, unit: "ms", mesh: percentile(m, p), relay: percentile(r, p), ...(target === undefined ? {} : { target }) });
  };
  pair(
    `CreateOrder p50, alone (${mesh.alone?.length ?? 0} orders one after another, in rounds alternating with the relay's)`,
    mesh.alone,
    relay.alone,
    50,
    TARGETS.createP50,
  );
  pair("CreateOrder p99, alone", mesh.alone, relay.alone, 99);
  const n = mesh.probed?.latencies.length ?? 0;
  if (n > 0) {
    pair(`CreateOrder p50, under the load of (b) (${n} orders)`, mesh.probed?.latencies, relay.probed?.latencies, 50);
    pair("CreateOrder p99, under the load of (b)", mesh.probed?.latencies, relay.probed?.latencies, 99);
  }
  return rows;
}

/** A note on a run the deadline cut: how far it got, so its codes/s is read as what it is. */
function cut(t: Throughput | undefined, chain = "mesh"): string {
  if (t === undefined || t.received >= t.ordered) return "";
  return ` ⚠ ${chain} cut at the deadline after ${fmt(t.seconds)} s: ${fmt(t.received)} of ${fmt(t.ordered)} codes`;
}

/** (a)–(c): the mesh on its embedded store beside the relay. */
export function reportEmbedded(sizes: BenchSizes, mesh: ChainFigures, relay: ChainFigures): void {
  const rows: Comparison[] = [];
  if (mesh.oneOrder !== undefined && relay.oneOrder !== undefined) {
    const measure = `(a) one ${fmt(sizes.bigOrder)}-code order${cut(mesh.oneOrder)}${cut(relay.oneOrder, "relay")}`;
    rows.push({
      measure,
      unit: "codes/s",
      mesh: mesh.oneOrder.codesPerSecond,
      relay: relay.oneOrder.codesPerSecond,
      target: TARGETS.oneOrder,
    });
  }
  if (mesh.load !== undefined && relay.load !== undefined) {
    const measure = `(b) ${sizes.lines} line controllers × ${fmt(sizes.lineOrder)}-code order at once${cut(mesh.load)}${cut(relay.load, "relay")}`;
    rows.push({ measure, unit: "codes/s", mesh: mesh.load.codesPerSecond, relay: relay.load.codesPerSecond, target: TARGETS.lines });
  }
  rows.push(...latencyRows(mesh, relay).map((r) => ({ ...r, measure: `(c) ${r.measure}` })));
  if (mesh.oneOrder !== undefined) {
    console.log(`\n(a) one order on this machine: ${fmt(mesh.oneOrder.codesPerSecond)} codes/s (issue target ≥ 100 000 codes/s).`);
  }
  printComparisons("Mesh (embedded store) against the bare relay, three processes each on loopback, emission unthrottled:", rows);
}

/** (d): the mesh on MongoDB beside the relay (no store) and the database's own bulk-insert rate. */
export function reportMongo(sizes: BenchSizes, label: string, raw: number, mesh: ChainFigures, relay: ChainFigures): void {
  const header = ["measure", `mesh on ${label}`, "relay (no store)", "mesh / relay", "mesh % of raw insert", "target"];
  const rows: string[][] = [];
  const throughput = (measure: string, m: Throughput | undefined, r: Throughput | undefined): void => {
    if (m === undefined) return;
    const share = (100 * m.codesPerSecond) / raw;
    const ratio = r === undefined ? Number.NaN : m.codesPerSecond / r.codesPerSecond;
    rows.push([
      `${measure}${cut(m)}`,
      `${fmt(m.codesPerSecond)} codes/s`,
      `${fmt(r?.codesPerSecond ?? Number.NaN)} codes/s`,
      `${fmt(ratio, 2)}×`,
      `${fmt(share)} %`,
      verdict(share, TARGETS.ofRawInsert),
    ]);
  };
  throughput(`(d·a) one ${fmt(sizes.bigOrder)}-code order`, mesh.oneOrder, relay.oneOrder);
  throughput(`(d·b) ${sizes.lines} line controllers × ${fmt(sizes.lineOrder)}-code order at once`, mesh.load, relay.load);
  for (const r of latencyRows(mesh, relay)) {
    const underLoadP99 = r.measure.startsWith("CreateOrder p99, under");
    rows.push([
      `(d·c) ${r.measure}`,
      `${fmt(r.mesh)} ms`,
      `${fmt(r.relay)} ms`,
      `${fmt(r.mesh / r.relay, 2)}×`,
      "",
      underLoadP99 ? verdict(r.mesh, TARGETS.p99UnderLoadMs) : "",
    ]);
  }
  console.log(
    `\n${label}: raw bulk insert ${fmt(raw)} documents/s (insertMany, batches of 1 000, ${fmt(sizes.rawDocs)} code-sized documents).`,
  );
  printTable(`Mesh on ${label} against the bare relay (which stores nothing) and the database's raw insert rate:`, header, rows);
}

/** (e): peak RSS of each role, mesh on MongoDB beside the relay, with large orders streaming at once. */
export function reportRss(sizes: BenchSizes, label: string, mesh: RssRun, relay: RssRun): void {
  const rows = [...mesh.peaks].map(([role, m]) => {
    const r = relay.peaks.get(role) ?? Number.NaN;
    return [role, `${fmt(m, 0)} MiB`, `${fmt(r, 0)} MiB`, `${fmt(m / r, 2)}×`, verdict(m, TARGETS.rssMiB)];
  });
  const since = mesh.sinceReset && relay.sinceReset ? "" : " (peaks since each process started: the kernel refused to reset them)";
  const took = (r: RssRun): string =>
    `${fmt(r.run.received)} codes in ${fmt(r.run.seconds)} s${r.run.received < r.run.ordered ? " (cut at the deadline)" : ""}`;
  printTable(
    `(e) Peak RSS per role, ${sizes.rssOrders} orders × ${fmt(sizes.rssOrder)} codes streaming at once${since}; ` +
      `mesh on ${label}: ${took(mesh)}, relay: ${took(relay)}:`,
    ["role", `mesh on ${label}`, "relay", "mesh / relay", "target (mesh)"],
    rows,
  );
}

/** (f): small orders alone and behind a big one, on a paced mesh. */
export function reportFairness(sizes: BenchSizes, run: FairnessRun): void {
  const alone = spread(run.alone);
  const behind = spread(run.behind);
  const row = (measure: string, a: number, b: number): string[] => [
    measure,
    `${fmt(a, 0)} ms`,
    `${fmt(b, 0)} ms`,
    `${fmt(b / a, 2)}×`,
    verdict(b / a, TARGETS.fairness),
  ];
  printTable(
    `(f) Fairness (issue item 1): ${sizes.fairSmallOrders} orders × ${sizes.fairSmall} codes from as many participants, alone and placed ` +
      `just after a ${fmt(sizes.fairBig)}-code order of another; mesh (embedded store) at EMISSION_RATE=${sizes.fairRate}, ` +
      "times from placement to the last code acknowledged (the relay has no queue to be unfair with):",
    ["measure", "alone", "behind the big order", "behind / alone", "target"],
    [row("small order completion, p50", alone.p50, behind.p50), row("small order completion, slowest", alone.max, behind.max)],
  );
}
