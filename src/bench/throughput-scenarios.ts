import { closeLines, createLatencies, type Line, openLine, openLines, runOrder } from "./bench-lines.js";

/** How big each scenario is: the sizes, or a smoke run's (--quick). */
export interface BenchSizes {
  /** (a) codes of the one big order. */
  bigOrder: number;
  /** (b) line controllers at once, and the codes each orders. */
  lines: number;
  lineOrder: number;
  /** (c) small orders placed one after another, alone. */
  sequential: number;
  /** (d) documents inserted to measure the database's own bulk-insert rate. */
  rawDocs: number;
  /** (e) large orders streaming at once, and their codes. */
  rssOrders: number;
  rssOrder: number;
  /** (f) the big order, the small orders behind it (codes each, how many) and the paced emission rate. */
  fairBig: number;
  fairSmall: number;
  fairSmallOrders: number;
  fairRate: number;
  /** What any one scenario may take: streams still open then are cut and counted as far as they got. */
  deadlineMs: number;
}

export const FULL_SIZES: BenchSizes = {
  bigOrder: 150_000,
  lines: 16,
  lineOrder: 5_000,
  sequential: 200,
  rawDocs: 100_000,
  rssOrders: 10,
  rssOrder: 150_000,
  fairBig: 150_000,
  fairSmall: 100,
  fairSmallOrders: 10,
  fairRate: 10_000,
  deadlineMs: 120_000,
};

export const QUICK_SIZES: BenchSizes = {
  bigOrder: 10_000,
  lines: 4,
  lineOrder: 2_000,
  sequential: 20,
  rawDocs: 10_000,
  rssOrders: 10,
  rssOrder: 2_000,
  fairBig: 20_000,
  fairSmall: 100,
  fairSmallOrders: 3,
  fairRate: 10_000,
  deadlineMs: 60_000,
};

/** A chain under test (the mesh or the relay), as the line controllers see it. */
export interface Chain {
  name: string;
  omsAddress: string;
}

/** One small order end to end first: connections up, code paths warm, before anything is timed. */
export async function warmUp(chain: Chain): Promise<void> {
  const line = await openLine(chain.omsAddress, 1);
  try {
    await runOrder(line, 2_000);
  } finally {
    await line.close();
  }
}

/** Codes a scenario moved: all it ordered, unless its deadline cut the streams. */
export interface Throughput {
  codesPerSecond: number;
  seconds: number;
  received: number;
  ordered: number;
}

/** The lines each placing and receiving an order of `codes` at once, cut at the deadline. */
async function ordersAtOnce(lines: readonly Line[], codes: number, deadline: AbortSignal): Promise<Throughput> {
  const runs = await Promise.all(lines.map((l) => runOrder(l, codes, deadline)));
  // Until the last code arrived (or the cut): the closes after it are not part of the scenario.
  const seconds = Math.max(...runs.map((r) => r.doneMs)) / 1000;
  const received = runs.reduce((n, r) => n + r.received, 0);
  return { codesPerSecond: received / seconds, seconds, received, ordered: lines.length * codes };
}

/** (a) One order of `codes`, placed, received and acknowledged by one line. */
export async function oneOrder(chain: Chain, codes: number, deadlineMs: number): Promise<Throughput> {
  const line = await openLine(chain.omsAddress, 1);
  try {
    return await ordersAtOnce([line], codes, AbortSignal.timeout(deadlineMs));
  } finally {
    await line.close();
  }
}

/** Probe orders under load, at most: they stay open until the load is over, within MAX_ACTIVE_ORDERS (100) of the probe's participant. */
const PROBE_MAX = 90;

/** What a load of many lines did, and the CreateOrder times seen meanwhile (when probed). */
export interface LoadRun extends Throughput {
  latencies: number[];
}

/**
 * (b) `lines` line controllers each place an order of `codes` at once and
 * receive it; with `probe`, one more line places small orders one after
 * another meanwhile (c, under load), its codes not counted.
 */
export async function manyLines(chain: Chain, lines: number, codes: number, probe: boolean, deadlineMs: number): Promise<LoadRun> {
  const load = await openLines(chain.omsAddress, lines);
  const prober: Line | undefined = probe ? await openLine(chain.omsAddress, lines + 1) : undefined;
  try {
    let done = false;
    const running = ordersAtOnce(load, codes, AbortSignal.timeout(deadlineMs)).finally(() => {
      done = true;
    });
    const latencies = prober === undefined ? Promise.resolve([]) : createLatencies(prober, (n) => done || n >= PROBE_MAX, false);
    return { ...(await running), latencies: await latencies };
  } finally {
    await closeLines(prober === undefined ? load : [...load, prober]);
  }
}

/** (c) CreateOrder round trips (ms) of `n` small orders placed one after another on an idle chain, fewer if the deadline comes first. */
export async function latencyAlone(chain: Chain, n: number, deadlineMs: number): Promise<number[]> {
  const line = await openLine(chain.omsAddress, 1);
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    return await createLatencies(line, (placed) => placed >= n || deadline.aborted, true);
  } finally {
    await line.close();
  }
}

/** Rounds (c) alone is split into, per chain. */
const ALONE_ROUNDS = 4;

/**
 * (c) alone on two chains side by side: `n` CreateOrder round trips on each,
 * in rounds that alternate between them (and which goes first), so that a
 * machine slowing down or speeding up during the run weighs on both alike.
 * Measured one after the other, minutes apart, the ratio moved with the
 * machine (1.27–1.48× for the same code).
 */
export async function latencyAloneSideBySide(a: Chain, b: Chain, n: number, deadlineMs: number): Promise<[number[], number[]]> {
  const times: [number[], number[]] = [[], []];
  const t0 = performance.now();
  const left = (): number => deadlineMs - (performance.now() - t0);
  const count = Math.ceil(n / ALONE_ROUNDS);
  for (let round = 0; round < ALONE_ROUNDS && left() > 0; round++) {
    const turns = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
    for (const i of turns) times[i].push(...(await latencyAlone(i === 0 ? a : b, count, Math.max(1, Math.round(left())))));
  }
  return times;
}

/** (e) `orders` lines each receiving an order of `codes` at once, cut at the deadline. */
export async function largeOrdersAtOnce(chain: Chain, orders: number, codes: number, deadlineMs: number): Promise<Throughput> {
  const lines = await openLines(chain.omsAddress, orders);
  try {
    return await ordersAtOnce(lines, codes, AbortSignal.timeout(deadlineMs));
  } finally {
    await closeLines(lines);
  }
}
