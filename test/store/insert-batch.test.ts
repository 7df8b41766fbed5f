import { type Collection, type Document, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsertBatch, MAX_INSERT_BATCH } from "../../src/store/insert-batch.js";
import { DuplicateKeyError } from "../../src/store/store.js";
import { WriteGate } from "../../src/store/write-gate.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";

let server: TestMongo | undefined;
let client: MongoClient | undefined;
/** Documents per insert command sent, in order. */
const sent: number[] = [];
let collections = 0;

beforeAll(async () => {
  server = await startFerretDb();
  client = await MongoClient.connect(server.uri, { monitorCommands: true });
  client.on("commandStarted", (e) => {
    if (e.commandName === "insert") sent.push((e.command.documents as unknown[]).length);
  });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

function freshCollection(): Collection<Document> {
  if (client === undefined || server === undefined) throw new Error("no server: see the beforeAll error");
  return client.db(server.dbName).collection(`batch_${++collections}`);
}

/** A gate of one slot, held until `release`: inserts queue behind it as behind a busy writer. */
function heldGate(): { gate: WriteGate; release(): Promise<void> } {
  const gate = new WriteGate(1);
  let open = (): void => undefined;
  const holding = gate.run(() => new Promise<void>((resolve) => (open = resolve)));
  return {
    gate,
    release: async () => {
      open();
      await holding;
    },
  };
}

describe("InsertBatch (single-document inserts on FerretDB)", () => {
  it("sends an insert that finds the writer free at once, alone", async () => {
    const c = freshCollection();
    const gate = new WriteGate(4);
    const batch = new InsertBatch("docs", c, (w) => gate.run(w, true));
    sent.length = 0;
    await batch.insert({ _id: "a" });
    await batch.insert({ _id: "b" });
    expect(sent).toEqual([1, 1]);
    expect(await c.countDocuments()).toBe(2);
  });

  it("sends the inserts that queue behind a busy writer as one insertMany, each settled on its own: a duplicate key refuses its document only", async () => {
    const c = freshCollection();
    await c.insertOne({ _id: "taken" } as Document);
    const { gate, release } = heldGate();
    const batch = new InsertBatch("docs", c, (w) => gate.run(w, true));
    sent.length = 0;
    const ids = ["d0", "d1", "taken", "d2", "d1", "d3"];
    const inserts = ids.map((_id) => batch.insert({ _id, n: 1 }));
    await release();
    const settled = await Promise.allSettled(inserts);
    expect(sent).toEqual([ids.length]);
    // The stored "taken", and the second of two documents with one key, are refused; the others stored.
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"]);
    for (const s of settled) if (s.status === "rejected") expect(s.reason).toBeInstanceOf(DuplicateKeyError);
    expect((await c.find({}).toArray()).map((d) => d._id).sort()).toEqual(["d0", "d1", "d2", "d3", "taken"]);
  });

  it("starts a new batch past MAX_INSERT_BATCH documents and for inserts arriving once a batch has started", async () => {
    const c = freshCollection();
    const { gate, release } = heldGate();
    const batch = new InsertBatch("docs", c, (w) => gate.run(w, true));
    sent.length = 0;
    const first = Array.from({ length: MAX_INSERT_BATCH + 3 }, (_, i) => batch.insert({ _id: `x${i}` }));
    await release();
    await Promise.all(first);
    expect(sent).toEqual([MAX_INSERT_BATCH, 3]);
    expect(await c.countDocuments()).toBe(MAX_INSERT_BATCH + 3);
  });

  it("fails every insert of a batch that fails for another reason than a duplicate key", async () => {
    const c = freshCollection();
    const { gate, release } = heldGate();
    const batch = new InsertBatch("docs", c, (w) => gate.run(w, true));
    // Larger than a BSON document may be: the driver refuses the command, stored or not is unknown to each.
    const inserts = [batch.insert({ _id: "ok" }), batch.insert({ _id: "huge", blob: "x".repeat(17 * 1024 * 1024) })];
    await release();
    const settled = await Promise.allSettled(inserts);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    for (const s of settled) if (s.status === "rejected") expect(s.reason).not.toBeInstanceOf(DuplicateKeyError);
    // A batch after it goes as usual.
    await batch.insert({ _id: "after" });
    expect(await c.countDocuments({ _id: "after" } as Document)).toBe(1);
  });
});
