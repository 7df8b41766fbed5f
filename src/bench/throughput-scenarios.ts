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
}

export const FULL_SIZES: BenchSizes = {
  bigOrder: 150_000,
  lines: 16,
  lineOrder: 5_000,
  sequential: 200,
  rawDocs: 100_000,
  rssOrders: 10,
  rssOrder: 50_000,
  fairBig: 150_000,
  fairSmall: 100,
  fairSmallOrders: 10,
  fairRate: 10_000,
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

/** (a) One order of `codes`, placed, received and acknowledged by one line: codes/s. */
export async function oneOrder(chain: Chain, codes: number): Promise<number> {
  const line = await openLine(chain.omsAddress, 1);
  try {
    const run = await runOrder(line, codes);
    return codes / (run.doneMs / 1000);
  } finally {
    await line.close();
  }
}

/** What a load of many lines did: its codes/s in all, and the CreateOrder times seen meanwhile (when probed). */
export interface LoadRun {
  codesPerSecond: number;
  seconds: number;
  latencies: number[];
}

/**
 * (b) `lines` line controllers each place an order of `codes` at once and
 * receive it; with `probe`, one more line places small orders one after
 * another meanwhile (c, under load), its codes not counted.
 */
export async function manyLines(chain: Chain, lines: number, codes: number, probe: boolean): Promise<LoadRun> {
  const load = await openLines(chain.omsAddress, lines);
  const prober: Line | undefined = probe ? await openLine(chain.omsAddress, lines + 1) : undefined;
  try {
    let done = false;
    const t0 = performance.now();
    const running = Promise.all(load.map((l) => runOrder(l, codes))).finally(() => {
      done = true;
    });
    const latencies = prober === undefined ? Promise.resolve([]) : createLatencies(prober, () => done);
    await running;
    const seconds = (performance.now() - t0) / 1000;
    return { codesPerSecond: (lines * codes) / seconds, seconds, latencies: await latencies };
  } finally {
    await closeLines(prober === undefined ? load : [...load, prober]);
  }
}

/** (c) CreateOrder round trips (ms) of `n` small orders placed one after another on an idle chain. */
export async function latencyAlone(chain: Chain, n: number): Promise<number[]> {
  const line = await openLine(chain.omsAddress, 1);
  try {
    return await createLatencies(line, (placed) => placed >= n);
  } finally {
    await line.close();
  }
}

/** (e) `orders` lines each receiving an order of `codes` at once: how long it took (s). */
export async function largeOrdersAtOnce(chain: Chain, orders: number, codes: number): Promise<number> {
  const lines = await openLines(chain.omsAddress, orders);
  try {
    const t0 = performance.now();
    await Promise.all(lines.map((l) => runOrder(l, codes)));
    return (performance.now() - t0) / 1000;
  } finally {
    await closeLines(lines);
  }
}
