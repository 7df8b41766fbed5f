import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { startRelay, type Relay } from "../../src/bench/relay/start-relay.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { parseCode } from "../../src/domain/code-format.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { milkOrder } from "../support/orders.js";

const BENCH = fileURLToPath(new URL("../../dist/bench/run-bench.js", import.meta.url));

function transport(address: string) {
  return createDownstreamTransport({ address: parseAddress(address), token: "any", maxMessageBytes: 64 * 1024 * 1024 });
}

/** Runs `npm run bench`'s program with the given flags; its exit code and everything it printed. */
function runBench(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}

describe("the bench's bare relay", () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it("serves an order end to end through the APCS library: every code signed, in blocks of 1 000", async () => {
    const apcs = await Apcs.open({ transport: transport(relay.omsAddress), log: pino({ level: "silent" }) });
    try {
      const order = await apcs.placeOrder(milkOrder(2_500));
      const blocks: number[] = [];
      const codes: string[] = [];
      const saved = await apcs.receiveCodes(order.orderId, {
        onBlock: (block) => {
          blocks.push(block.codes.length);
          codes.push(...block.codes);
        },
      });
      expect(blocks).toEqual([1_000, 1_000, 500]);
      expect(saved.storedCodes).toBe(2_500);
      expect(new Set(codes).size).toBe(2_500);
      expect(codes.every((c) => parseCode(c).ok)).toBe(true);
      const emitter = createClient(EmitterService, transport(relay.hops[0]?.address ?? ""));
      const verified = await Promise.all(codes.slice(0, 20).map((code) => emitter.verifyCode({ code })));
      expect(verified.every((v) => v.valid)).toBe(true);
      await apcs.closeOrder(order.orderId);
    } finally {
      await apcs.close();
    }
  });
});

describe("npm run bench", () => {
  it("runs a quick part beside the relay, prints its ratio and target, and exits 0", { timeout: 60_000 }, async () => {
    const { code, out } = await runBench(["--quick", "--only", "a"]);
    expect(out).toMatch(/\| \(a\) one 10 000-code order \| [\d ]+ codes\/s \| [\d ]+ codes\/s \| [\d.]+× \| target ≥ 2×: (met|not met) \|/);
    expect(code).toBe(0);
  });
});
