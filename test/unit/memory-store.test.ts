import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memory-store.js";
import { DuplicateKeyError } from "../../src/store/store.js";

interface Row {
  _id: string;
  owner: string;
  n: number;
  tags?: string[];
}

async function rows() {
  return new MemoryStore().collection<Row>("rows", [{ fields: ["owner"] }, { fields: ["owner", "n"], unique: true }]);
}

describe("MemoryStore", () => {
  it("refuses a second document with the same _id or unique key", async () => {
    const c = await rows();
    await c.insertOne({ _id: "a", owner: "x", n: 1 });
    await expect(c.insertOne({ _id: "a", owner: "y", n: 2 })).rejects.toBeInstanceOf(DuplicateKeyError);
    await expect(c.insertOne({ _id: "b", owner: "x", n: 1 })).rejects.toBeInstanceOf(DuplicateKeyError);
    expect(await c.count({})).toBe(1);
  });

  it("keeps a frozen document of scalars as it is, and copies one that is not frozen or holds an object", async () => {
    const c = await rows();
    const frozen = Object.freeze({ _id: "a", owner: "x", n: 1 });
    const open = { _id: "b", owner: "x", n: 2 };
    // Frozen only on the outside: its array could still change.
    const shallow = Object.freeze({ _id: "c", owner: "x", n: 3, tags: ["t"] });
    await c.insertMany([frozen, open, shallow]);
    expect(await c.findOne({ _id: "a" })).toBe(frozen);
    const copied = await c.findOne({ _id: "b" });
    expect(copied).not.toBe(open);
    expect(copied).toEqual(open);
    expect(Object.isFrozen(copied)).toBe(true);
    shallow.tags.push("changed after insert");
    expect((await c.findOne({ _id: "c" }))?.tags).toEqual(["t"]);
  });

  it("inserts many, reporting the positions of duplicates and keeping the rest", async () => {
    const c = await rows();
    await c.insertOne({ _id: "a", owner: "x", n: 1 });
    const r = await c.insertMany([
      { _id: "b", owner: "x", n: 2 },
      { _id: "a", owner: "z", n: 9 },
      { _id: "c", owner: "x", n: 2 },
      { _id: "d", owner: "y", n: 2 },
    ]);
    expect(r).toEqual({ inserted: 2, duplicates: [1, 2] });
  });

  it("updates one document only when its condition holds", async () => {
    const c = await rows();
    await c.insertOne({ _id: "a", owner: "x", n: 1 });
    expect(await c.updateOne({ _id: "a", n: 2 }, { $set: { owner: "y" } })).toBeUndefined();
    const u = await c.updateOne({ _id: "a", n: { $lt: 5 } }, { $inc: { n: 4 }, $set: { owner: "y" } });
    expect(u).toEqual({ _id: "a", owner: "y", n: 5 });
    expect(await c.updateOne({ _id: "a" }, { $max: { n: 3 } })).toMatchObject({ n: 5 });
    expect(await c.find({ owner: "x" })).toEqual([]);
    expect(await c.find({ owner: "y" })).toHaveLength(1);
  });

  it("finds by equality and ranges, sorted and limited", async () => {
    const c = await rows();
    await c.insertMany([5, 3, 9, 1, 7].map((n) => ({ _id: `r${n}`, owner: "o", n })));
    const found = await c.find({ owner: "o", n: { $gt: 1, $lte: 7 } }, { sort: { field: "n", direction: -1 }, limit: 2 });
    expect(found.map((r) => r.n)).toEqual([7, 5]);
    expect(await c.count({ n: { $in: [1, 9, 4] } })).toBe(2);
    expect(await c.deleteMany({ n: { $gte: 7 } })).toBe(2);
    expect(await c.count({})).toBe(3);
  });

  it("hands out documents no caller can change behind the store's back", async () => {
    const c = await rows();
    const doc = { _id: "a", owner: "x", n: 1, tags: ["t"] };
    await c.insertOne(doc);
    doc.tags.push("changed after insert");
    const stored = await c.findOne({ _id: "a" });
    expect(stored?.tags).toEqual(["t"]);
    expect(() => stored?.tags?.push("x")).toThrow(TypeError);
  });
});
