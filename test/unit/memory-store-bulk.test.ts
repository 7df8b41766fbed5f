import { describe, expect, it } from "vitest";
import { KeyTable } from "../../src/store/key-table.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection } from "../../src/store/store.js";
import { mulberry32 } from "../support/fault-transport.js";

/** A serial's registry entry, or (with tags) a document that cannot share a row. */
interface Entry {
  _id: string;
  orderId: string;
  product: number;
  chunk: number;
  tags?: string[];
}

const byId = (docs: readonly Entry[]): Entry[] => [...docs].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));

/** The same random operations on a bulk collection (key table, shared rows) and a plain one: every answer must be the same. */
async function sameAnswers(seed: number, steps: number): Promise<void> {
  const store = new MemoryStore();
  const bulk = await store.collection<Entry>("bulk", [{ fields: ["orderId"] }], { bulk: true });
  const plain = await store.collection<Entry>("plain", [{ fields: ["orderId"] }]);
  const rnd = mulberry32(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const id = (): string => `0460000000000${pick(2)}/${pick(60)}`;
  const run = (): Entry[] => {
    const [orderId, product, chunk] = [`o${pick(4)}`, pick(2), pick(3)];
    return Array.from({ length: 1 + pick(30) }, () => ({ _id: id(), orderId, product, chunk, ...(pick(10) === 0 ? { tags: ["t"] } : {}) }));
  };
  const both = async <R>(op: (c: Collection<Entry>) => Promise<R>): Promise<void> => {
    const [a, b] = [await op(bulk), await op(plain)];
    expect(Array.isArray(a) ? byId(a as Entry[]) : a).toStrictEqual(Array.isArray(b) ? byId(b as Entry[]) : b);
  };
  for (let step = 0; step < steps; step++) {
    // Every random draw before the calls: both collections get the same arguments.
    const [docs, orderId, ids, product] = [run(), `o${pick(4)}`, [id(), id(), id()], pick(2)];
    const update = { $set: { chunk: pick(3), orderId: `o${pick(4)}` } };
    switch (pick(8)) {
      case 0:
        await both((c) => c.insertMany(docs));
        break;
      case 1:
        await both((c) => c.insertInOrder(docs));
        break;
      case 2:
        await both((c) => c.deleteMany({ orderId }));
        break;
      case 3:
        await both((c) => c.deleteMany({ _id: { $in: ids } }));
        break;
      case 4:
        await both((c) => c.updateOne({ _id: ids[0] }, update));
        break;
      case 5:
        await both((c) =>
          c.insertOne(docs[0] as Entry).then(
            () => "inserted",
            (e: Error) => e.name,
          ),
        );
        break;
      default:
        await both((c) => c.findOne({ _id: ids[0] }));
    }
    await both((c) => c.find({ orderId }));
    await both((c) => c.count({ product }));
  }
  await both((c) => c.find({}));
}

describe("MemoryStore bulk collection", () => {
  it("answers every call as a collection keeping each document whole, whatever was inserted, updated and deleted", async () => {
    // 1500 steps: enough deletes that the key table moves its entries (key-table.ts, COMPACT_AT) once or twice.
    for (let seed = 1; seed <= 12; seed++) await sameAnswers(seed, 1500);
  });

  it("hands out frozen documents equal to those inserted", async () => {
    const c = await new MemoryStore().collection<Entry>("serials", [{ fields: ["orderId"] }], { bulk: true });
    const docs = ["a", "b", "c"].map((s) => ({ _id: s, orderId: "o", product: 0, chunk: 1 }));
    await c.insertMany(docs);
    const found = await c.findOne({ _id: "b" });
    expect(found).toStrictEqual(docs[1]);
    expect(Object.isFrozen(found)).toBe(true);
    expect(byId(await c.find({ orderId: "o" }))).toStrictEqual(docs);
  });
});

describe("KeyTable", () => {
  it("keeps values by key through growth, deletes and keys inserted again, each key's entry its own", () => {
    const t = new KeyTable<{ v: number }>();
    const ref = new Map<string, { v: number }>();
    const rnd = mulberry32(7);
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(rnd() * 5_000)}é${i % 3 === 0 ? "\u{1F600}" : ""}`;
      if (rnd() < 0.3) expect(t.delete(key)).toBe(ref.delete(key));
      else if (rnd() < 0.5) {
        const entry = t.add(key, { v: i });
        expect(entry >= 0).toBe(!ref.has(key));
        if (entry >= 0) {
          ref.set(key, { v: i });
          expect(t.keyAt(entry)).toBe(key);
        }
      } else {
        const value = { v: i };
        const entry = t.set(key, value);
        ref.set(key, value);
        expect(t.valueAt(entry)).toBe(value);
      }
      expect(t.get(key)).toStrictEqual(ref.get(key));
    }
    expect(t.size).toBe(ref.size);
    expect(new Map(t)).toStrictEqual(ref);
  });
});
