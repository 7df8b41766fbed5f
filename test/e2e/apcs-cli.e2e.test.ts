import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OrderSummary } from "../../src/apcs/cli-order.js";
import type { JournalView, OrderView } from "../../src/apcs/cli-views.js";
import { GS } from "../../src/domain/code-format.js";
import { freshGtin } from "../support/orders.js";
import { startMesh } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

const CLI = fileURLToPath(new URL("../../dist/apcs/cli.js", import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/apcs/cli.js …` as the operator would, stdout and stderr being pipes (not a terminal). */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Exactly one JSON document on stdout. */
function json<T>(r: CliRun): T {
  expect(r.stdout.trim().split("\n"), r.stderr).toHaveLength(1);
  return JSON.parse(r.stdout) as T;
}

interface ErrorDoc {
  error: { code: string; message: string; step: string | null; violations: { field: string; description: string }[] };
}

describe("the apcs CLI against the mesh as three processes", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  let dir: string;
  let base: string[];

  beforeAll(async () => {
    mesh = await startMesh({ EMISSION_RATE: "500000" });
    dir = await mkdtemp(join(tmpdir(), "apcs-cli-e2e-"));
    base = ["--oms", mesh.oms.address, "--token", TOKENS.apcs];
  });
  afterAll(async () => {
    await mesh?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("places an order, writes its 2500 codes to --out and prints one JSON summary", async () => {
    const out = join(dir, "codes.txt");
    const gtin = freshGtin();
    const r = await cli(["order", ...base, "--group", "milk", "--product", `${gtin}:2500`, "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(""); // --json: no progress, no logs
    const summary = json<OrderSummary>(r);
    expect(summary).toMatchObject({
      productGroup: "milk",
      status: "READY",
      bufferStatus: "EXHAUSTED",
      totalCodes: 2500,
      codesReceived: 2500,
      blocks: 3,
      out,
      closed: false,
    });
    expect(summary.orderId).not.toBe("");
    expect(summary.codesPerSecond).toBeGreaterThan(0);

    const lines = (await readFile(out, "utf8")).split("\n");
    expect(lines.pop()).toBe(""); // ends with a newline
    expect(lines).toHaveLength(2500);
    expect(new Set(lines).size).toBe(2500);
    for (const line of lines) {
      expect(line.startsWith(`01${gtin}21`)).toBe(true);
      expect(line.split(GS)).toHaveLength(3); // the raw 0x1D byte, twice
    }
  });

  it("shows progress lines on a pipe, a readable summary, and closes the order with --close", async () => {
    const r = await cli(["order", ...base, "--group", "water", "--product", `${freshGtin()}:10000`, "--close"]);
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stderr.trim().split("\n"); // 1000-code blocks: one line per 10 %
    expect(progress).toHaveLength(10);
    expect(progress[0]).toBe("received 1,000/10,000 codes (10%) in 1 block");
    expect(progress[9]).toBe("received 10,000/10,000 codes (100%) in 10 blocks");
    expect(r.stdout).toMatch(/^✔ order \S+: 10,000 codes received$/m);
    expect(r.stdout).toMatch(/product group\s+water/);
    expect(r.stdout).toMatch(/status\s+CLOSED \(buffer CLOSED\)/);
    expect(r.stdout).toMatch(/codes received\s+10,000 of 10,000 in 10 blocks/);
    expect(r.stdout).toMatch(/elapsed\s+\d+\.\d\d s, [\d,]+ codes\/s/);
    expect(r.stdout).not.toContain("\x1b["); // no colours off a terminal
  });

  it("exits 1 and names order.products[0].gtin when the check digit is wrong", async () => {
    const good = freshGtin();
    const bad = good.slice(0, 13) + String((Number(good[13]) + 1) % 10);
    const po = `cli-bad-gtin-${process.pid}`;
    const out = join(dir, "bad-gtin-codes.txt");
    const r = await cli([
      "order",
      ...base,
      "--group",
      "milk",
      "--product",
      `${bad}:10`,
      "--production-order-id",
      po,
      "--json",
      "--out",
      out,
    ]);
    expect(r.code).toBe(1);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/); // no codes, no file: a rerun may use the same --out
    expect(r.stderr).toMatch(/^FAILED_PRECONDITION at step 5: /);
    expect(r.stderr).toMatch(/^ {2}order\.products\[0\]\.gtin: .*check digit/m);
    const doc = json<ErrorDoc>(r);
    expect(doc.error.code).toBe("FAILED_PRECONDITION");
    expect(doc.error.step).toBe("5");
    expect(doc.error.violations.map((v) => v.field)).toEqual(["order.products[0].gtin"]);

    const journal = await cli(["journal", ...base, "--order", po, "--json"]);
    expect(journal.code, journal.stderr).toBe(0);
    expect(json<{ entries: JournalView[] }>(journal).entries.map((e) => [e.role, e.step, e.code])).toEqual([
      ["oms", "13.1", "FAILED_PRECONDITION"],
    ]);
  });

  it("shows, re-fetches a block of, and closes an order placed with --no-wait", async () => {
    const placed = json<OrderSummary>(
      await cli(["order", ...base, "--group", "shoes", "--product", `${freshGtin()}:1500`, "--no-wait", "--json"]),
    );
    expect([placed.codesReceived, placed.totalCodes]).toEqual([0, 1500]);

    const status = await cli(["status", placed.orderId, ...base, "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(json<OrderView>(status)).toMatchObject({ orderId: placed.orderId, productGroup: "shoes", totalCodes: 1500, totalBlocks: 2 });
    const human = await cli(["status", placed.orderId, ...base]);
    expect(human.stdout).toContain(`order ${placed.orderId}`);

    const block = await waitFor(
      () => cli(["block", placed.orderId, "2", ...base]),
      (b) => b.code === 0,
    );
    expect(block.stdout.trim().split("\n")).toHaveLength(500);
    expect(block.stderr).toMatch(/500 codes of GTIN \d{14} \(last block\)/);

    const closed = await cli(["close", placed.orderId, ...base, "--json"]);
    expect(closed.code, closed.stderr).toBe(0);
    expect(json<OrderView>(closed).status).toBe("CLOSED");
    expect(json<OrderView>(await cli(["status", placed.orderId, ...base, "--json"])).status).toBe("CLOSED");

    const watched = await cli(["watch", placed.orderId, ...base, "--json"]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(
      watched.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as OrderView).status),
    ).toEqual(["CLOSED"]);
  });

  it("exits 1 with NOT_FOUND for an unknown order, and UNAUTHENTICATED for a wrong token", async () => {
    const missing = await cli(["status", "no-such-order", ...base]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^NOT_FOUND: order "no-such-order" not found/)]);
    const stranger = await cli(["status", "no-such-order", "--oms", mesh.oms.address, "--token", "wrong"]);
    expect([stranger.code, stranger.stderr]).toEqual([1, expect.stringMatching(/^UNAUTHENTICATED at step auth: unknown bearer token/)]);
  });
});

/** Retries `run` until `done` (a block exists only once OMS has received it). */
async function waitFor(run: () => Promise<CliRun>, done: (r: CliRun) => boolean, attempts = 50): Promise<CliRun> {
  let last = await run();
  for (let i = 1; i < attempts && !done(last); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await run();
  }
  return last;
}
