import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CHAOS = fileURLToPath(new URL("../../dist/bench/run-chaos.js", import.meta.url));

/** Runs `npm run chaos`'s program with the given flags; its exit code and everything it printed. */
function runChaos(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHAOS, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "",
        ...(process.env.MONGODB_URI === undefined ? {} : { MONGODB_URI: process.env.MONGODB_URI }),
      },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}

describe("npm run chaos", () => {
  it("kills roles while orders run, checks every invariant and exits 0 on a clean run", { timeout: 150_000 }, async () => {
    // The first kill comes within 0.3 s: small orders on an idle machine are all done within a second or two.
    const { code, out } = await runChaos(["--orders", "6", "--lines", "2", "--kills", "2", "--kill-every", "200", "--deadline", "140"]);
    expect(out).toContain("all invariants hold");
    expect(out).toMatch(/\| orders completed \| 6 \/ 6 /);
    expect(out).toMatch(/\| duplicate codes \| 0 \|/);
    expect(out).toMatch(/kill -9 /);
    expect(out).toMatch(/recovery after a kill: p50 \/ p95 \/ p99 \/ max \|/);
    expect(code).toBe(0);
  });
});
