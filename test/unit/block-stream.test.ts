import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BlockStore } from "../../src/core/codes/block-store.js";
import { streamBlocks, type BlockSource } from "../../src/core/codes/block-stream.js";
import { Notifier } from "../../src/core/runtime/notifier.js";
import { CodeBlockSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";

/** An order of `total` blocks of which `stored` are stored so far. */
async function source(stored: number, total: number): Promise<BlockSource> {
  const blocks = await BlockStore.open(new MemoryStore());
  for (let seq = 1; seq <= stored; seq++) {
    await blocks.put(create(CodeBlockSchema, { orderId: "o1", seq, gtin: "04600000000017", codes: [`c${seq}`], last: seq === total }));
  }
  return { blocks, notifier: new Notifier(), progress: async () => ({ stored, total }), recheckMs: 10 };
}

/** Drains the stream; the seqs it sent and how it ended (undefined = OK). */
async function drain(src: BlockSource, signal: AbortSignal): Promise<{ seqs: number[]; err: ConnectError | undefined }> {
  const seqs: number[] = [];
  try {
    for await (const b of streamBlocks(src, "o1", 0, signal)) seqs.push(b.seq);
    return { seqs, err: undefined };
  } catch (e) {
    return { seqs, err: ConnectError.from(e) };
  }
}

describe("streamBlocks", () => {
  it("ends OK only after the last block", async () => {
    expect(await drain(await source(3, 3), new AbortController().signal)).toEqual({ seqs: [1, 2, 3], err: undefined });
  });

  it("ends DEADLINE_EXCEEDED, not OK, when the deadline passes before the last block", async () => {
    const { seqs, err } = await drain(await source(2, 5), abortedLater(new ConnectError("the operation timed out", Code.DeadlineExceeded)));
    expect(seqs).toEqual([1, 2]);
    expect(err?.code).toBe(Code.DeadlineExceeded);
  });

  it("ends CANCELLED when the client cancels (a signal aborted without a ConnectError reason)", async () => {
    const { seqs, err } = await drain(await source(1, 5), abortedLater(undefined));
    expect(seqs).toEqual([1]);
    expect(err?.code).toBe(Code.Canceled);
  });
});

/** A signal that aborts with `reason` once the stream waits for more blocks. */
function abortedLater(reason: unknown): AbortSignal {
  const abort = new AbortController();
  setTimeout(() => abort.abort(reason), 20);
  return abort.signal;
}
