import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { batches } from "../../src/core/codes/block-pump.js";

interface B {
  seq: number;
  last: boolean;
}

/** A stream of blocks 1..n, the last marked; `failAfter` blocks then an UNAVAILABLE error, if given. */
async function* stream(n: number, failAfter?: number): AsyncGenerator<B> {
  for (let seq = 1; seq <= n; seq++) {
    if (failAfter !== undefined && seq > failAfter) throw new ConnectError("cut", Code.Unavailable);
    yield { seq, last: seq === n };
  }
}

/** Collects the runs, storing each slowly (so that the blocks after it are already there), and how it ended. */
async function runs(source: AsyncIterable<B>, max: number): Promise<{ runs: number[][]; err?: unknown }> {
  const out: number[][] = [];
  try {
    for await (const run of batches(source, max)) {
      out.push(run.map((b) => b.seq));
      await new Promise((r) => setTimeout(r, 5));
    }
    return { runs: out };
  } catch (err) {
    return { runs: out, err };
  }
}

describe("batches (blocks stored together by the pump)", () => {
  it("puts what arrived while a run was stored into the next run, at most `max` blocks, in order, each block once", async () => {
    const { runs: got, err } = await runs(stream(40), 16);
    expect(err).toBeUndefined();
    expect(got.flat()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(got.length).toBeLessThan(40);
    for (const run of got) expect(run.length).toBeLessThanOrEqual(16);
  });

  it("takes one block at a time when asked for runs of one", async () => {
    const { runs: got } = await runs(stream(5), 1);
    expect(got).toEqual([[1], [2], [3], [4], [5]]);
  });

  it("hands out the blocks that arrived before the stream failed, then the failure", async () => {
    const { runs: got, err } = await runs(stream(10, 6), 16);
    expect(got.flat()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ConnectError.from(err).code).toBe(Code.Unavailable);
  });

  it("asks for nothing after the last block", async () => {
    let asked = 0;
    const counted: AsyncIterable<B> = {
      [Symbol.asyncIterator]() {
        const it = stream(3);
        return {
          next: () => {
            asked++;
            return it.next();
          },
        };
      },
    };
    const { runs: got } = await runs(counted, 16);
    expect(got.flat()).toEqual([1, 2, 3]);
    expect(asked).toBe(3);
  });
});
