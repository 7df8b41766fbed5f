import { pino } from "pino";
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

/** A record filled by one CodeFiller from `open`, on the embedded store. */
async function fillerOf(open: FillerTarget["open"]) {
  const store = new MemoryStore();
  const { docs, leaseWrites } = countingLeaseWrites(await store.collection<RecordDoc>("records"));
  const liveness = { id: "a", isAlive: async () => true, heartbeatMs: 1_000 };
  const lease = new WorkLease(docs, { liveness, ms: 60_000, fences: await TakeFences.open(store, liveness) });
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
    lease,
  });
  await docs.insertOne({ _id: "order-1", status: "filling", blocks: 0, ...filler.newLease() });
  return { docs, filler, tasks, leaseWrites };
}

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
});
