import { pino } from "pino";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { BlockStore, CodeFiller, type FillerTarget } from "../../src/core/codes/index.js";
import type { EncodedBlock } from "../../src/core/codes/encoded-block.js";
import { Journal, type LeasedDoc, TakeFences, WorkLease } from "../../src/core/iotp/index.js";
import { BackgroundTasks, Notifier } from "../../src/core/runtime/index.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection, Filter, Update } from "../../src/store/store.js";

const log = pino({ level: "silent" });

interface RecordDoc extends LeasedDoc {
  status: "filling" | "filled";
  blocks: number;
  traceparent?: string;
}

/** The writes that touch a record's lease fields (taking, renewing, giving back). */
function countingLeaseWrites(docs: Collection<RecordDoc>): { docs: Collection<RecordDoc>; leaseWrites: () => number } {
  let writes = 0;
  const counted: Collection<RecordDoc> = Object.create(docs);
  counted.updateOne = (filter: Filter<RecordDoc>, update: Update<RecordDoc>) => {
    const set = (update as { $set?: Record<string, unknown> }).$set ?? {};
    if ("leaseOwner" in set || "leaseUntil" in set) writes++;
    return docs.updateOne(filter, update);
  };
  return { docs: counted, leaseWrites: () => writes };
}

/** Reads of the records (findOne): the lease's, the cursor's, the traceparent's; they can be held back, as by a stalled store. */
function countingReads(docs: Collection<RecordDoc>) {
  let reads = 0;
  let waiting = 0;
  let mostWaiting = 0;
  let stalled: Promise<void> | undefined;
  let unstall: () => void = () => undefined;
  const counted: Collection<RecordDoc> = Object.create(docs);
  counted.findOne = async (filter: Filter<RecordDoc>) => {
    reads++;
    waiting++;
    mostWaiting = Math.max(mostWaiting, waiting);
    try {
      await stalled;
      return await docs.findOne(filter);
    } finally {
      waiting--;
    }
  };
  const stall = (): void => {
    stalled = new Promise((resolve) => {
      unstall = resolve;
    });
  };
  const resume = (): void => {
    stalled = undefined;
    unstall();
  };
  return { docs: counted, reads: () => reads, mostWaiting: () => mostWaiting, stall, resume };
}

/** A record filled by one CodeFiller from `open`, on the embedded store. */
async function fillerOf(open: FillerTarget["open"], leaseMs = 60_000) {
  const store = new MemoryStore();
  const { docs: leaseCounted, leaseWrites } = countingLeaseWrites(await store.collection<RecordDoc>("records"));
  const { docs, reads, mostWaiting, stall, resume } = countingReads(leaseCounted);
  const liveness = { id: "a", isAlive: async () => true, heartbeatMs: 1_000 };
  const lease = new WorkLease(docs, { liveness, ms: leaseMs, fences: await TakeFences.open(store, liveness) });
  const tasks = new BackgroundTasks(log);
  const deps = {
    blocks: await BlockStore.open(store),
    notifier: new Notifier(),
    tasks,
    journal: await Journal.open(store, "test", log),
    log,
    step: "14.1",
  };
  const filler = new CodeFiller(deps, {
    open,
    cursor: async (id) => ({ blocks: (await docs.findOne({ _id: id }))?.blocks ?? 0, codes: 0 }),
    advance: async (blocks) => {
      const last = blocks.at(-1);
      if (last === undefined) return;
      await docs.updateOne({ _id: last.orderId }, { $set: { blocks: last.seq, status: last.last ? "filled" : "filling" } });
    },
    fail: async () => undefined,
    filling: () => docs.find({ status: "filling" }),
    traceparent: async (id) => (await docs.findOne({ _id: id }))?.traceparent,
    lease,
  });
  await docs.insertOne({ _id: "order-1", status: "filling", blocks: 0, ...filler.newLease() });
  return { docs, filler, tasks, leaseWrites, reads, mostWaiting, stall, resume };
}

/** What the create that inserted the record hands its filler. */
const fresh = (doc: RecordDoc | undefined) => ({
  leaseOwner: doc?.leaseOwner ?? "",
  leaseUntil: doc?.leaseUntil ?? 0,
  traceparent: doc?.traceparent,
});

const block = (seq: number, last: boolean): EncodedBlock => ({
  orderId: "order-1",
  seq,
  gtin: "04600000000000",
  last,
  count: 1,
  wire: new Uint8Array(),
});

describe("CodeFiller", () => {
  it("fills a record it created under the lease it was created with, and leaves it there once filled: no write to take or give back the lease", async () => {
    const { docs, filler, tasks, leaseWrites } = await fillerOf(async function* (_id, after) {
      if (after < 1) yield block(1, false);
      yield block(2, true);
    });
    const created = await docs.findOne({ _id: "order-1" });
    filler.fill("order-1");
    await vi.waitFor(() => expect(tasks.has("order-1")).toBe(false));
    expect(await docs.findOne({ _id: "order-1" })).toMatchObject({
      status: "filled",
      blocks: 2,
      leaseOwner: "a",
      leaseUntil: created?.leaseUntil,
    });
    expect(leaseWrites()).toBe(0);
  });

  it("gives the lease back when stopped while the record is still filling, so another instance takes it at once", async () => {
    const { docs, filler, tasks } = await fillerOf(async function* (_id, _after, signal) {
      yield block(1, false);
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    });
    filler.fill("order-1");
    await vi.waitFor(async () => expect((await docs.findOne({ _id: "order-1" }))?.blocks).toBe(1));
    await filler.stop("order-1");
    expect(tasks.has("order-1")).toBe(false);
    expect(await docs.findOne({ _id: "order-1" })).toMatchObject({ status: "filling", leaseOwner: "a", leaseUntil: 0 });
  });

  it("starts filling a record its create has just inserted without reading it: lease, traceparent and cursor are the create's", async () => {
    const opened: number[] = [];
    const { docs, filler, tasks, reads } = await fillerOf(async function* (_id, after) {
      opened.push(after);
      yield block(1, false);
      yield block(2, true);
    });
    const created = fresh(await docs.findOne({ _id: "order-1" }));
    const before = reads();
    filler.fill("order-1", created);
    await vi.waitFor(() => expect(tasks.has("order-1")).toBe(false));
    expect(opened).toEqual([0]);
    expect(reads() - before).toBe(0);
    expect(await docs.findOne({ _id: "order-1" })).toMatchObject({ status: "filled", blocks: 2 });
  });

  it("reads the cursor of a freshly created record when its stream is cut and reopened", async () => {
    const opened: number[] = [];
    const { docs, filler, tasks, reads } = await fillerOf(async function* (_id, after) {
      opened.push(after);
      if (after === 0) {
        yield block(1, false);
        throw new ConnectError("cut", Code.Unavailable);
      }
      yield block(2, true);
    });
    const created = fresh(await docs.findOne({ _id: "order-1" }));
    const before = reads();
    filler.fill("order-1", created);
    await vi.waitFor(() => expect(tasks.has("order-1")).toBe(false));
    // Resumed after the block stored, found by reading the record: not from the empty record the create made.
    expect(opened).toEqual([0, 1]);
    expect(reads() - before).toBe(1);
  });

  it("reads the lease of a freshly created record whose fill started late enough to renew it", async () => {
    const { docs, filler, tasks, reads } = await fillerOf(async function* () {
      yield block(1, false);
      yield block(2, true);
    });
    const created = fresh(await docs.findOne({ _id: "order-1" }));
    const before = reads();
    filler.fill("order-1", { ...created, leaseUntil: Date.now() + 1_000 });
    await vi.waitFor(() => expect(tasks.has("order-1")).toBe(false));
    expect(reads() - before).toBe(1);
  });

  it("reads lease, traceparent and cursor of a record it did not just create (a resume, a retransmitted create)", async () => {
    const { filler, tasks, reads } = await fillerOf(async function* (_id, after) {
      if (after < 1) yield block(1, false);
      yield block(2, true);
    });
    const before = reads();
    filler.fill("order-1");
    await vi.waitFor(() => expect(tasks.has("order-1")).toBe(false));
    expect(reads() - before).toBe(3);
  });

  it("keeps its lease with one read at a time while the store stalls, not one more at every tick", async () => {
    // A lease of 300 ms is checked every 100 ms; this liveness has no unbroken heartbeat to skip the reads.
    const { filler, tasks, reads, mostWaiting, stall, resume } = await fillerOf(async function* (_id, _after, signal) {
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    }, 300);
    filler.fill("order-1");
    await vi.waitFor(() => expect(reads()).toBeGreaterThanOrEqual(4)); // lease, traceparent, cursor, a first keep
    stall();
    const before = reads();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // ten ticks
    expect(reads() - before).toBeLessThanOrEqual(1);
    expect(mostWaiting()).toBe(1);
    resume();
    await vi.waitFor(() => expect(reads() - before).toBeGreaterThanOrEqual(3)); // kept again once the store answers
    await filler.stop("order-1");
    expect(tasks.has("order-1")).toBe(false);
  });
});
