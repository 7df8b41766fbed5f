import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BlockStore } from "../../src/core/codes/block-store.js";
import { LOCAL_RECHECKS, streamBlocks, type BlockSource } from "../../src/core/codes/block-stream.js";
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

describe("streamBlocks rechecks", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** How often the stream of an order of 1 stored block of 5 read its progress after `ms`, its blocks stored here or not. */
  async function readsAfter(ms: number, storedHere: boolean): Promise<number> {
    vi.useFakeTimers();
    const src = await source(1, 5);
    let reads = 0;
    const counted: BlockSource = {
      ...src,
      progress: (id) => {
        reads++;
        return src.progress(id);
      },
      storedHere: () => storedHere,
    };
    const abort = new AbortController();
    const stream = drain(counted, abort.signal);
    await vi.advanceTimersByTimeAsync(ms);
    abort.abort();
    await stream;
    return reads;
  }

  it("re-read the progress every recheckMs while another instance may store the order's blocks", async () => {
    expect(await readsAfter(10 * LOCAL_RECHECKS - 1, false)).toBe(LOCAL_RECHECKS);
  });

  it("come LOCAL_RECHECKS times less often while this process stores the order's blocks (each one wakes the stream)", async () => {
    expect(await readsAfter(10 * LOCAL_RECHECKS - 1, true)).toBe(1);
    expect(await readsAfter(10 * LOCAL_RECHECKS, true)).toBe(2);
  });

  it("still wake at once when a block stored here is announced", async () => {
    vi.useFakeTimers();
    const src = await source(1, 2);
    let stored = 1;
    const live: BlockSource = { ...src, progress: async () => ({ stored, total: 2 }), storedHere: () => true };
    const seqs: number[] = [];
    const done = (async () => {
      for await (const b of streamBlocks(live, "o1", 0, new AbortController().signal)) seqs.push(b.seq);
    })();
    await vi.advanceTimersByTimeAsync(1);
    await src.blocks.put(create(CodeBlockSchema, { orderId: "o1", seq: 2, gtin: "04600000000017", codes: ["c2"], last: true }));
    stored = 2;
    src.notifier.notify("o1");
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(seqs).toEqual([1, 2]);
  });
});

/** A signal that aborts with `reason` once the stream waits for more blocks. */
function abortedLater(reason: unknown): AbortSignal {
  const abort = new AbortController();
  setTimeout(() => abort.abort(reason), 20);
  return abort.signal;
}
