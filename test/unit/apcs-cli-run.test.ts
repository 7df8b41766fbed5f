import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runCli, type CliIo } from "../../src/apcs/cli.js";
import { gtin } from "../support/orders.js";

const G = gtin("0460000000001");

/** A stream that keeps what is written to it. */
class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, env };
  const code = await runCli(argv, io);
  return { code, out: stdout.text, err: stderr.text };
}

describe("apcs CLI usage errors (exit 2, message on stderr)", () => {
  it("names an unknown product group and lists the choices", async () => {
    const r = await run(["order", "--group", "cheese", "--product", `${G}:10`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/option '--group <name>' argument 'cheese' is invalid\. Allowed choices are shoes, pharma, tobacco, milk/);
    expect(r.out).toBe("");
  });

  it("requires --group and at least one --product", async () => {
    expect((await run(["order", "--product", `${G}:10`])).err).toMatch(/required option '--group <name>' not specified/);
    const r = await run(["order", "--group", "milk"]);
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/required option '--product <gtin:quantity\[:template\]>' not specified/)]);
  });

  it("explains a malformed --product", async () => {
    const r = await run(["order", "--group", "milk", "--product", "12345"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/argument '12345' is invalid\. expected gtin:quantity\[:template\]/);
  });

  it("refuses unknown flags, bad choices, bad addresses and bad numbers", async () => {
    const cases: [string[], RegExp][] = [
      [["status", "o-1", "--colour"], /unknown option '--colour'/],
      [["order", "--group", "milk", "--product", `${G}:1`, "--cis-type", "box"], /'--cis-type <type>' argument 'box' is invalid/],
      [["order", "--group", "milk", "--product", `${G}:1`, "--release", "sale"], /'--release <method>' argument 'sale' is invalid/],
      [["status", "o-1", "--oms", "localhost"], /"localhost" is not host:port/],
      [["status", "o-1", "--timeout", "0"], /"0" is not a positive whole number/],
      [["status"], /missing required argument 'orderId'/],
      [["block", "o-1"], /missing required argument 'blockId'/],
      [["status", "o-1", "o-2"], /too many arguments/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["journal", "--limit", "x"], /"x" is not a positive whole number/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toMatch(message);
    }
  });

  it("refuses --no-wait with --out or --close", async () => {
    const r = await run(["order", "--group", "milk", "--product", `${G}:1`, "--no-wait", "--close"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/option '--no-wait' cannot be used with option '--close'/);
  });

  it("refuses a malformed OMS_ADDR", async () => {
    const r = await run(["status", "o-1"], { OMS_ADDR: "nowhere" });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/OMS_ADDR: "nowhere" is not host:port/);
  });

  it("refuses an --out file that exists, before placing any order", async () => {
    const r = await run(["order", "--group", "milk", "--product", `${G}:1`, "--out", "/", "--oms", "127.0.0.1:1"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot create --out file \/: EEXIST/);
  });

  it("with --json, also prints the usage error as one JSON document on stdout", async () => {
    const r = await run(["order", "--group", "milk", "--product", "x", "--json"]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.out) as { error: { code: string; message: string } };
    expect(doc.error.code).toBe("USAGE");
    expect(doc.error.message).toMatch(/argument 'x' is invalid/);
  });
});

describe("apcs CLI help and failures", () => {
  it("prints help on stdout and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const command of ["order", "status", "watch", "close", "block", "journal"]) expect(r.out).toContain(command);
    const order = await run(["order", "--help"]);
    expect(order.out).toMatch(/--product <gtin:quantity\[:template\]>/);
    expect(order.out).toMatch(/Global Options:[\s\S]*--oms <host:port>/);
  });

  it("does not show the token from the environment in help", async () => {
    const r = await run(["--help"], { APCS_TOKEN: "s3cret-token" });
    expect(r.out).not.toContain("s3cret-token");
    expect(r.out).toContain("$APCS_TOKEN");
  });

  it("exits 1 with the gRPC code name when OMS cannot be reached, and as JSON with --json", async () => {
    const r = await run(["status", "o-1", "--oms", "127.0.0.1:1", "--json"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^UNAVAILABLE: /);
    const doc = JSON.parse(r.out) as { error: { code: string; step: string | null; violations: unknown[] } };
    expect(doc.error).toMatchObject({ code: "UNAVAILABLE", step: null, violations: [] });
  });

  it("names the request id to retry with when placing an order got no answer", async () => {
    const r = await run(["order", "--group", "milk", "--product", `${G}:1`, "--request-id", "retry-me-0001", "--oms", "127.0.0.1:1"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/UNAVAILABLE at step 17\.1: [\s\S]*run again with --request-id retry-me-0001/);
  });
});
