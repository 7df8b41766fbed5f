import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoStore } from "../../src/store/mongo-store.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";

let server: TestMongo | undefined;
let databases = 0;

beforeAll(async () => {
  server = await startFerretDb();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

async function freshStore(): Promise<MongoStore> {
  if (server === undefined) throw new Error("no server: see the beforeAll error");
  return MongoStore.connect(server.uri, `${server.dbName}_${++databases}`);
}

/** Ordinary writes queued at once: far more than the database's write gate lets run together. */
const QUEUED = 200;

// Only FerretDB's writes are queued (WriteGate); a MongoDB at MONGODB_URI runs them all at once.
describe.skipIf(process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== "")(
  "MongoStore urgent collections on FerretDB",
  () => {
    it("lets a write of an urgent collection pass the ordinary writes queued before it", async () => {
      const store = await freshStore();
      try {
        const progress = await store.collection<{ _id: string; n: number }>("progress");
        const instances = await store.collection<{ _id: string; heartbeatAt: number }>("instances", [], { urgent: true });
        await progress.insertMany(Array.from({ length: QUEUED }, (_, i) => ({ _id: `p${i}`, n: 0 })));
        await instances.insertOne({ _id: "me", heartbeatAt: 0 });
        let ordinaryDone = 0;
        // One update per document: no two wait on the same document's lane, so all of them queue in the gate.
        const ordinary = Array.from({ length: QUEUED }, (_, i) =>
          progress.updateOne({ _id: `p${i}` }, { $inc: { n: 1 } }).then(() => void ordinaryDone++),
        );
        const beat = instances.updateOne({ _id: "me" }, { $set: { heartbeatAt: 1 } }).then(() => ordinaryDone);
        const passedAfter = await beat;
        await Promise.all(ordinary);
        // Behind the queue it would finish after all of them; urgent, it waits for those already running and a few more.
        expect(passedAfter).toBeLessThan(QUEUED / 10);
        expect(ordinaryDone).toBe(QUEUED);
        expect(await instances.findOne({ _id: "me" })).toEqual({ _id: "me", heartbeatAt: 1 });
      } finally {
        await store.close();
      }
    }, 60_000);

    it("keeps the ordinary writes of other collections in the order they came", async () => {
      const store = await freshStore();
      try {
        const progress = await store.collection<{ _id: string; n: number }>("progress");
        const sweeps = await store.collection<{ _id: string; at: number }>("sweeps");
        await progress.insertMany(Array.from({ length: QUEUED }, (_, i) => ({ _id: `p${i}`, n: 0 })));
        await sweeps.insertOne({ _id: "s", at: 0 });
        let ordinaryDone = 0;
        const ordinary = Array.from({ length: QUEUED }, (_, i) =>
          progress.updateOne({ _id: `p${i}` }, { $inc: { n: 1 } }).then(() => void ordinaryDone++),
        );
        const sweep = sweeps.updateOne({ _id: "s" }, { $set: { at: 1 } }).then(() => ordinaryDone);
        // An ordinary update of another collection waits its turn: the gate is what the urgent test above measures against.
        expect(await sweep).toBeGreaterThan(QUEUED - 10);
        await Promise.all(ordinary);
      } finally {
        await store.close();
      }
    }, 60_000);
  },
);
