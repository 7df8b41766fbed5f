import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";

// The FerretDB the project builds (scripts/ferretdb); a server given by MONGODB_URI has its own indexes.
const onOurFerretDb = (process.env.MONGODB_URI ?? "") === "";

describe.runIf(onOurFerretDb)("the FerretDB built for the tests (scripts/ferretdb)", () => {
  let server: TestMongo | undefined;
  let client: MongoClient | undefined;
  beforeAll(async () => {
    server = await startFerretDb();
    client = await MongoClient.connect(server.uri);
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it("finds a document by _id through an index, not by reading the whole collection", { timeout: 30_000 }, async () => {
    const c = client!.db(server!.dbName).collection<{ _id: string; n: number }>("serials");
    await c.insertMany(Array.from({ length: 1_000 }, (_, n) => ({ _id: `serial-${n}`, n })));
    const plan = async (): Promise<string> => JSON.stringify((await c.find({ _id: "serial-500" }).explain()).queryPlanner);
    // The index is added within moments of the collection's creation; FerretDB's connections see it from their next write on.
    for (let i = 0; i < 50 && !(await plan()).includes("USING INDEX"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      await c.insertOne({ _id: `later-${i}`, n: -1 });
    }
    expect(await plan()).toMatch(/SEARCH \S+ USING INDEX \S+_id_pushdown/);
    expect((await c.findOne({ _id: "serial-500" }))?.n).toBe(500);
    // Updates and deletes by _id find it the same way (FerretDB writes by that expression).
    expect((await c.findOneAndUpdate({ _id: "serial-7" }, { $set: { n: -7 } }, { returnDocument: "after" }))?.n).toBe(-7);
    expect((await c.deleteOne({ _id: "serial-8" })).deletedCount).toBe(1);
  });
});
