import { benchOrder, closeLines, openLines, percentile, runOrder, settle } from "./bench-lines.js";
import type { Chain } from "./throughput-scenarios.js";

/** Completion times (ms, placement to last code acknowledged) of the small orders, alone and behind a big one. */
export interface FairnessRun {
  alone: number[];
  behind: number[];
}

/**
 * (f), issue item 1: `count` small orders of `small` codes from as many
 * participants, placed together on an idle mesh, then again just after
 * another participant's order of `big` codes (placed, not received; cancelled
 * after). Run it on a mesh with a paced EMISSION_RATE, so that the big order
 * holds the Emission server for a while: an emitter working in arrival order
 * makes the small ones wait for all of it, a fair one for a block or two.
 */
export async function fairness(chain: Chain, big: number, small: number, count: number): Promise<FairnessRun> {
  const lines = await openLines(chain.omsAddress, count + 1);
  const [bigLine, ...smallLines] = lines;
  if (bigLine === undefined) throw new Error("no line for the big order");
  const smallOrders = async (): Promise<number[]> => (await Promise.all(smallLines.map((l) => runOrder(l, small)))).map((r) => r.doneMs);
  try {
    const alone = await smallOrders();
    const order = await bigLine.apcs.placeOrder(benchOrder(big));
    try {
      return { alone, behind: await smallOrders() };
    } finally {
      await settle("CancelOrder", bigLine.apcs.cancelOrder({ orderId: order.orderId }, "bench: fairness scenario done"));
    }
  } finally {
    await closeLines(lines);
  }
}

/** The p50 and the slowest of a set of times. */
export function spread(times: readonly number[]): { p50: number; max: number } {
  return { p50: percentile(times, 50), max: percentile(times, 100) };
}
