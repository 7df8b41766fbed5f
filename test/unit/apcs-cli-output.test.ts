import { Writable } from "node:stream";
import { ConnectError, Code } from "@connectrpc/connect";
import pc from "picocolors";
import { describe, expect, it } from "vitest";
import { CommandFailure, failureOf, formatFailure } from "../../src/apcs/cli-errors.js";
import { formatSummary, type OrderSummary } from "../../src/apcs/cli-order.js";
import { createProgress } from "../../src/apcs/cli-progress-view.js";
import { blockIdOf } from "../../src/apcs/cli-queries.js";
import { OrderRejectedError, RequestInvalidError } from "../../src/domain/domain-errors.js";
import { toConnectError } from "../../src/core/rpc/to-connect-error.js";

const plain = pc.createColors(false);

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe("failure reports", () => {
  it("prints the code name, the step and each field violation", () => {
    const err = toConnectError(
      new RequestInvalidError("4", [
        { field: "order.products[0].gtin", description: "must be 14 digits" },
        { field: "order.products[1].quantity", description: "must be 1..150000" },
      ]),
    );
    const f = failureOf(err);
    expect(f).toMatchObject({ code: "INVALID_ARGUMENT", step: "4" });
    expect(formatFailure(f, plain)).toBe(
      "INVALID_ARGUMENT at step 4: the request is malformed: order.products[0].gtin: must be 14 digits; order.products[1].quantity: must be 1..150000\n" +
        "  order.products[0].gtin: must be 14 digits\n" +
        "  order.products[1].quantity: must be 1..150000",
    );
  });

  it("keeps the step and violations of a rejection relayed from below", () => {
    const below = toConnectError(
      new OrderRejectedError("5", [{ field: "order.products[0].template_id", description: "not a milk template" }]),
    );
    const relayed = new ConnectError(below.rawMessage, below.code, undefined, undefined, below);
    relayed.details = below.details; // as checkReply relays it up the chain
    expect(failureOf(new CommandFailure(relayed, { requestId: "r-12345678" }))).toEqual({
      code: "FAILED_PRECONDITION",
      message: below.rawMessage,
      step: "5",
      violations: [{ field: "order.products[0].template_id", description: "not a milk template" }],
      requestId: "r-12345678",
    });
  });

  it("suggests retrying with the request id only for transient failures of placing the order", () => {
    const unavailable = failureOf(new CommandFailure(new ConnectError("OMS is down", Code.Unavailable), { requestId: "r-1" }));
    expect(formatFailure(unavailable, plain)).toMatch(/run again with --request-id r-1/);
    const rejected = failureOf(new CommandFailure(new ConnectError("bad", Code.InvalidArgument), { requestId: "r-1" }));
    expect(formatFailure(rejected, plain)).not.toMatch(/--request-id/);
    const later = failureOf(
      new CommandFailure(new ConnectError("cut", Code.Unavailable), { requestId: "r-1", orderId: "o-1", note: "received 5 of 10 codes" }),
    );
    expect(formatFailure(later, plain)).toBe("UNAVAILABLE: cut\n  received 5 of 10 codes");
  });

  it("reports errors that are not gRPC statuses as ERROR", () => {
    expect(failureOf(new Error("disk full"))).toEqual({ code: "ERROR", message: "disk full", step: null, violations: [] });
  });
});

describe("order summary", () => {
  const summary: OrderSummary = {
    orderId: "o-1",
    productionOrderId: "po-1",
    requestId: "r-1",
    productGroup: "milk",
    status: "READY",
    bufferStatus: "EXHAUSTED",
    totalCodes: 2500,
    codesReceived: 2500,
    blocks: 3,
    elapsedMs: 812,
    codesPerSecond: 3079,
    out: "/tmp/codes.txt",
    closed: false,
  };

  it("shows order id, group, status, codes, blocks, elapsed time and rate", () => {
    const text = formatSummary(summary, true, plain);
    expect(text.split("\n")).toEqual([
      "✔ order o-1: 2,500 codes received",
      "  production order  po-1",
      "  product group     milk",
      "  status            READY (buffer EXHAUSTED)",
      "  codes received    2,500 of 2,500 in 3 blocks",
      "  elapsed           0.81 s, 3,079 codes/s",
      "  written to        /tmp/codes.txt",
      "  request id        r-1",
    ]);
  });
});

describe("progress without a terminal", () => {
  it("prints a line each time another 10 % has arrived", () => {
    const err = new Capture();
    const p = createProgress(err, false);
    p.start(2500);
    for (let codes = 100; codes <= 2500; codes += 100) p.update(codes, codes / 100);
    p.stop();
    const lines = err.text.trim().split("\n");
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe("received 300/2,500 codes (12%) in 3 blocks");
    expect(lines[9]).toBe("received 2,500/2,500 codes (100%) in 25 blocks");
  });

  it("prints nothing with --json", () => {
    const err = new Capture();
    const p = createProgress(err, true);
    p.start(10);
    p.update(10, 1);
    p.stop();
    expect(err.text).toBe("");
  });

  it("prints one line per block when blocks are coarser than 10 %", () => {
    const err = new Capture();
    const p = createProgress(err, false);
    p.start(3000);
    for (const blocks of [1, 2, 3]) p.update(blocks * 1000, blocks);
    expect(
      err.text
        .trim()
        .split("\n")
        .map((l) => /\((\d+)%\)/.exec(l)?.[1]),
    ).toEqual(["33", "66", "100"]);
  });
});

describe("block ids", () => {
  it("takes a bare number as the seq of the order's block", () => {
    expect(blockIdOf("o-1", "3")).toBe("o-1/3");
    expect(blockIdOf("o-1", "o-1/3")).toBe("o-1/3");
  });
});
