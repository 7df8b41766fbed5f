import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import { type BenchMesh, startBenchMesh } from "./bench-mesh.js";
import { type ChainFigures, reportEmbedded, reportFairness, reportMongo, reportRss } from "./bench-report.js";
import { printFailedCalls } from "./failed-calls.js";
import { fairness } from "./fairness-scenario.js";
import { hopCost } from "./hop-cost.js";
import { type Relay, startRelay } from "./relay/start-relay.js";
import { type BenchMongo, peakRssUnderLoad, rawInsertRate, startBenchMongo } from "./store-scenarios.js";
import {
  type BenchSizes,
  type Chain,
  FULL_SIZES,
  latencyAloneSideBySide,
  manyLines,
  oneOrder,
  QUICK_SIZES,
  warmUp,
} from "./throughput-scenarios.js";

/**
 * `npm run bench`: the mesh beside a bare three-hop relay on the same
 * contracts (src/bench/relay), both as three processes on loopback, driven by
 * the same load generator (the APCS library) in one run; markdown tables with
 * the ratios and the targets. Figures only: a missed target is
 * printed, never a failure (the exit status is non-zero only on errors).
 * The parts are listed in PART_HELP (`--help`).
 */
const PARTS = ["hop", "a", "b", "c", "d", "e", "f"] as const;
type Part = (typeof PARTS)[number];

const PART_HELP = `
Parts:
  hop  what one hop spends on a 1 000-code block, decoded and encoded again or kept encoded
  a    one 150 000-code order: codes/s, mesh and relay
  b    16 line controllers each placing a 5 000-code order at once: codes/s in all
  c    CreateOrder latency p50/p99, alone and under the load of b
  d    a, b, c with the mesh on MongoDB (a FerretDB of its own, or MONGODB_URI), against its raw bulk-insert rate
  e    peak RSS of each role with 10 large orders streaming at once, mesh on MongoDB
  f    fairness: 100-code orders alone and just behind a 150 000-code order, at a paced EMISSION_RATE`;

/** Emission unthrottled: the chain, not the configured rate, sets the pace. */
const UNTHROTTLED = 10_000_000;

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("a positive number of seconds");
  return n;
}

const isPart = (p: string): p is Part => (PARTS as readonly string[]).includes(p);

function parts(value: string): Set<Part> {
  const chosen = new Set<Part>();
  for (const p of value.split(",").map((s) => s.trim())) {
    if (!isPart(p)) throw new InvalidArgumentError(`"${p}" is not one of ${PARTS.join(",")}`);
    chosen.add(p);
  }
  return chosen;
}

/** Starts what a section needs and stops it whatever happens. */
async function using<T extends { stop(): Promise<void> }, R>(start: () => Promise<T>, run: (it: T) => Promise<R>): Promise<R> {
  const it = await start();
  try {
    return await run(it);
  } finally {
    await it.stop();
  }
}

/**
 * (a)–(c) on one chain. (b)'s codes/s comes from a run of the lines alone; (c) under load from a second run
 * of the same lines with the probe beside them: the probe's orders are load too (each one a block through
 * every hop, open until the load ends), and the faster a chain creates, the more of them it carries.
 */
async function throughput(chain: Chain, sizes: BenchSizes, want: (p: Part) => boolean): Promise<ChainFigures> {
  await warmUp(chain);
  const figures: ChainFigures = {};
  if (want("a")) figures.oneOrder = await oneOrder(chain, sizes.bigOrder, sizes.deadlineMs);
  if (want("b")) figures.load = await manyLines(chain, sizes.lines, sizes.lineOrder, false, sizes.deadlineMs);
  if (want("c")) figures.probed = await manyLines(chain, sizes.lines, sizes.lineOrder, true, sizes.deadlineMs);
  return figures;
}

/** (a)–(c) on the mesh, (c) alone measured side by side with the relay's (the relay's figures get theirs). */
async function meshBesideRelay(mesh: Chain, relay: Chain, relayFigures: ChainFigures, sizes: BenchSizes, want: (p: Part) => boolean) {
  const figures = await throughput(mesh, sizes, want);
  if (!want("c")) return { mesh: figures, relay: relayFigures };
  const [meshAlone, relayAlone] = await latencyAloneSideBySide(mesh, relay, sizes.sequential, sizes.deadlineMs);
  return { mesh: { ...figures, alone: meshAlone }, relay: { ...relayFigures, alone: relayAlone } };
}

const chainOf = (name: string, c: { omsAddress: string }): Chain => ({ name, omsAddress: c.omsAddress });

async function withRelay(sizes: BenchSizes, only: Set<Part>, relay: Relay): Promise<void> {
  const want = (p: Part): boolean => only.has(p);
  const relayChain = chainOf("relay", relay);
  let relayFigures: ChainFigures | undefined;
  if (want("a") || want("b") || want("c")) {
    const relayRun = await throughput(relayChain, sizes, want);
    const both = await using(
      () => startBenchMesh({ emissionRate: UNTHROTTLED }),
      (m) => meshBesideRelay(chainOf("mesh", m), relayChain, relayRun, sizes, want),
    );
    relayFigures = both.relay;
    reportEmbedded(sizes, both.mesh, both.relay);
  }
  if (!want("d") && !want("e")) return;
  await using(startBenchMongo, async (mongo: BenchMongo) => {
    await using(
      () => startBenchMesh({ emissionRate: UNTHROTTLED, mongoUri: mongo.uri }),
      async (mesh: BenchMesh) => {
        const meshChain = chainOf("mesh", mesh);
        if (want("d")) {
          const raw = await rawInsertRate(mongo.uri, sizes.rawDocs);
          const all = (p: Part): boolean => p === "a" || p === "b" || p === "c";
          const relayRun = relayFigures ?? (await throughput(relayChain, sizes, all));
          const both = await meshBesideRelay(meshChain, relayChain, relayRun, sizes, all);
          reportMongo(sizes, mongo.label, raw, both.mesh, both.relay);
        } else await warmUp(meshChain);
        if (want("e")) {
          const relayRss = await peakRssUnderLoad(relayChain, relay.hops, sizes);
          const meshRss = await peakRssUnderLoad(meshChain, mesh.hops, sizes);
          reportRss(sizes, mongo.label, meshRss, relayRss);
        }
      },
    );
  });
}

async function main(): Promise<void> {
  const o = new Command()
    .name("run-bench")
    .description("The mesh beside a bare three-hop relay on the same contracts, in one run: markdown tables with ratios and targets.")
    .addOption(
      new Option("--only <parts>", `comma-separated parts to run, of ${PARTS.join(",")}`).argParser(parts).default(new Set(PARTS), "all"),
    )
    .option("--quick", "small sizes: a smoke run of every part in about a minute", false)
    .option(
      "--deadline <s>",
      "what any one scenario may take; streams still open then are cut and counted as far as they got",
      positiveSeconds,
    )
    .addHelpText("after", PART_HELP)
    .parse()
    .opts<{ only: Set<Part>; quick: boolean; deadline?: number }>();
  const base = o.quick ? QUICK_SIZES : FULL_SIZES;
  const sizes = o.deadline === undefined ? base : { ...base, deadlineMs: o.deadline * 1000 };
  console.log(
    `# npm run bench${o.quick ? " --quick" : ""}: ${[...o.only].join(", ")}; node ${process.version}, ${availableParallelism()} cores, ` +
      `${new Date().toISOString()}. Mesh and relay share this machine with the load generator: figures are rough, compare ratios.`,
  );
  if (o.only.has("hop")) hopCost();
  if (PARTS.some((p) => p !== "hop" && p !== "f" && o.only.has(p))) await using(startRelay, (relay) => withRelay(sizes, o.only, relay));
  if (o.only.has("f")) {
    const run = await using(
      () => startBenchMesh({ emissionRate: sizes.fairRate }),
      async (mesh) => {
        await warmUp(chainOf("mesh", mesh));
        return fairness(chainOf("mesh", mesh), sizes.fairBig, sizes.fairSmall, sizes.fairSmallOrders);
      },
    );
    reportFairness(sizes, run);
  }
  printFailedCalls();
}

// Ctrl-C ends the run through process exit, where every process it started is killed (startRoleProcess, start-relay.ts).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
