import { describe, expect, it } from "vitest";
import type { MongoStore } from "../../src/store/mongo-store.js";
import { mongoStores } from "../support/both-stores.js";

/** Ordinary writes queued at once: far more than the database's write gate lets run together. */
const QUEUED = 200;

/**
 * QUEUED ordinary updates queued at once, one per document so that no two
 * wait on the same document's lane: all of them wait in the write gate.
 * `done()` counts those finished so far.
 */
async function queueOrdinaryUpdates(store: MongoStore): Promise<{ all: Promise<unknown>; done(): number }> {
  const progress = await store.collection<{ _id: string; n: number }>("progress");
  await progress.insertMany(Array.from({ length: QUEUED }, (_, i) => ({ _id: `p${i}`, n: 0 })));
  let done = 0;
  const all = Promise.all(
    Array.from({ length: QUEUED }, (_, i) => progress.updateOne({ _id: `p${i}` }, { $inc: { n: 1 } }).then(() => void done++)),
  );
  return { all, done: () => done };
}

// Only FerretDB's writes are queued (WriteGate); a MongoDB at MONGODB_URI runs them all at once.
describe.skipIf(process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== "")(
  "MongoStore urgent collections on FerretDB",
  () => {
    const open = mongoStores();

    it("lets a write of an urgent collection pass the ordinary writes queued before it", async () => {
      const store = await open();
      const instances = await store.collection<{ _id: string; heartbeatAt: number }>("instances", [], { urgent: true });
      await instances.insertOne({ _id: "me", heartbeatAt: 0 });
      const ordinary = await queueOrdinaryUpdates(store);
      const passedAfter = await instances.updateOne({ _id: "me" }, { $set: { heartbeatAt: 1 } }).then(() => ordinary.done());
      await ordinary.all;
      // Behind the queue it would finish after all of them (197 of 200 with the option ignored); urgent, it waits for
      // those already running, and on a loaded machine for those that started while it went through its document's lane.
      expect(passedAfter).toBeLessThan(QUEUED / 4);
      expect(ordinary.done()).toBe(QUEUED);
      expect(await instances.findOne({ _id: "me" })).toEqual({ _id: "me", heartbeatAt: 1 });
    }, 60_000);

    it("keeps an ordinary write of another collection behind the ones queued before it", async () => {
      const store = await open();
      const sweeps = await store.collection<{ _id: string; at: number }>("sweeps");
      await sweeps.insertOne({ _id: "s", at: 0 });
      const ordinary = await queueOrdinaryUpdates(store);
      // The gate the urgent test above measures against: an ordinary update waits its turn.
      expect(await sweeps.updateOne({ _id: "s" }, { $set: { at: 1 } }).then(() => ordinary.done())).toBeGreaterThan(QUEUED - 10);
      await ordinary.all;
    }, 60_000);
  },
);
