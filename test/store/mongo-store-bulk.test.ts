import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoStore } from "../../src/store/mongo-store.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";

let server: TestMongo | undefined;
let client: MongoClient | undefined;
let databases = 0;

beforeAll(async () => {
  server = await startFerretDb();
  client = await MongoClient.connect(server.uri);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** A fresh pair of database names: the role's and its bulk one. */
function names(): { main: string; bulk: string } {
  if (server === undefined) throw new Error("no server: see the beforeAll error");
  const main = `${server.dbName}_${++databases}`;
  return { main, bulk: `${main}-bulk` };
}

async function idsIn(db: string, collection: string): Promise<string[]> {
  const docs = await client?.db(db).collection<{ _id: string }>(collection).find({}).toArray();
  return (docs ?? []).map((d) => d._id).sort();
}

describe("MongoStore bulk collections", () => {
  it("keeps a bulk collection in the bulk database and the others in the role's", async () => {
    const { main, bulk } = names();
    const store = await MongoStore.connect(server?.uri ?? "", main, bulk);
    try {
      await (await store.collection("codes", [], { bulk: true })).insertMany([{ _id: "c1" }, { _id: "c2" }]);
      await (await store.collection("orders")).insertOne({ _id: "o1" });
      expect(await idsIn(bulk, "codes")).toEqual(["c1", "c2"]);
      expect(await idsIn(main, "codes")).toEqual([]);
      expect(await idsIn(main, "orders")).toEqual(["o1"]);
      expect(await idsIn(bulk, "orders")).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("leaves a bulk collection stored in the role's database before the split where it is", async () => {
    const { main, bulk } = names();
    const before = await MongoStore.connect(server?.uri ?? "", main);
    await (await before.collection("serials", [], { bulk: true })).insertOne({ _id: "s1" });
    await before.close();
    const store = await MongoStore.connect(server?.uri ?? "", main, bulk);
    try {
      const serials = await store.collection("serials", [], { bulk: true });
      // The serial taken before the split is still seen as taken.
      expect((await serials.insertMany([{ _id: "s1" }, { _id: "s2" }])).duplicates).toEqual([0]);
      expect(await idsIn(main, "serials")).toEqual(["s1", "s2"]);
      expect(await idsIn(bulk, "serials")).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
