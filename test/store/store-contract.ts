import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateKeyError, type Collection, type Filter, type IndexSpec, type Store } from "../../src/store/store.js";

/**
 * One suite every Store implementation must pass: the rules of
 * src/store/store.ts that the roles rely on.
 */

interface Row {
  _id: string;
  owner: string;
  n: number;
  status?: string;
  note?: string | undefined;
  tags?: string[];
}

interface Rich {
  _id: string;
  at: number;
  big: number;
  neg: number;
  frac: number;
  zero: number;
  empty: string;
  text: string;
  ok: boolean;
  no: boolean;
  tags: string[];
  flags: boolean[];
  none: string[];
  products: { gtin: string; serials: string[]; checks: boolean[]; sub: { codes: string[] } }[];
  error: { code: number; message: string; details: { type: string; value: string }[] };
  optional?: string | undefined;
}

/** A document stored before its counter field existed. */
interface Counter {
  _id: string;
  n: number;
  m: number;
}

/** Behaviours an implementation is known to get wrong today: run as expected failures. */
export type KnownDifference =
  | "range on a missing field"
  | "unique index on a missing field"
  | "arrays of arrays"
  | "concurrent conditional updates";

export interface ContractOptions {
  knownDifferences?: readonly KnownDifference[];
}

/** A filter with undefined values where the types allow none: what untyped callers may still pass. */
const loose = (filter: Record<string, unknown>): Filter<Row> => filter as Filter<Row>;

const ROW_INDEXES: readonly IndexSpec<Row>[] = [{ fields: ["owner"] }, { fields: ["owner", "n"], unique: true }, { fields: ["status"] }];

export function storeContract(
  name: string,
  open: () => Promise<{ store: Store; close(): Promise<void> }>,
  options: ContractOptions = {},
): void {
  /** A test that fails (and is run as such) where the implementation has the named known difference. */
  const unless = (known: KnownDifference) => (options.knownDifferences?.includes(known) === true ? it.fails : it);

  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });

    afterEach(async () => {
      await close();
    });

    const rows = (): Promise<Collection<Row>> => store.collection<Row>("rows", ROW_INDEXES);

    async function seed(c: Collection<Row>, ns: readonly number[]): Promise<void> {
      await c.insertMany(ns.map((n) => ({ _id: `r${String(n).padStart(2, "0")}`, owner: n % 2 === 0 ? "even" : "odd", n })));
    }

    const ids = (docs: readonly Row[]): string[] => docs.map((d) => d._id);
    const sortedIds = (docs: readonly Row[]): string[] => ids(docs).sort();

    describe("documents", () => {
      const rich: Rich = {
        _id: "doc-1",
        at: 1_763_800_000_123,
        big: 2 ** 40 + 1,
        neg: -7,
        frac: 0.25,
        zero: 0,
        empty: "",
        text: "Код маркировки \u001d01 «ü»",
        ok: true,
        no: false,
        tags: ["a", "b", "a"],
        flags: [true, false, true],
        none: [],
        products: [
          { gtin: "04600000000001", serials: ["s1", "s2"], checks: [false, true], sub: { codes: ["c"] } },
          { gtin: "04600000000002", serials: [], checks: [], sub: { codes: [] } },
        ],
        error: { code: 6, message: "taken", details: [{ type: "t", value: "dg==" }] },
      };

      it("come back equal to what was inserted, with no added fields", async () => {
        const c = await store.collection<Rich>("rich");
        await c.insertOne(rich);
        const found = await c.findOne({ _id: "doc-1" });
        expect(found).toStrictEqual(rich);
        expect(Object.keys(found ?? {}).sort()).toEqual(Object.keys(rich).sort());
        expect(await c.find({})).toStrictEqual([rich]);
        const updated = await c.updateOne({ _id: "doc-1" }, { $inc: { at: 1 } });
        expect(updated).toStrictEqual({ ...rich, at: rich.at + 1 });
      });

      unless("arrays of arrays")("may hold arrays of arrays", async () => {
        const c = await store.collection<{ _id: string; grid: string[][]; bits: boolean[][] }>("grids");
        const doc = { _id: "g", grid: [["x", "y"], [], ["z"]], bits: [[true], [false, true]] };
        await c.insertOne(doc);
        expect(await c.findOne({ _id: "g" })).toStrictEqual(doc);
      });

      it("leave an undefined field absent", async () => {
        const c = await store.collection<Rich>("rich");
        await c.insertOne({ ...rich, optional: undefined });
        const found = await c.findOne({ _id: "doc-1" });
        expect(found).toEqual(rich);
        expect(found?.optional).toBeUndefined();
      });

      it("cannot be changed behind the store's back by the caller's objects", async () => {
        const c = await rows();
        const doc: Row = { _id: "a", owner: "x", n: 1, tags: ["t"] };
        await c.insertOne(doc);
        doc.tags?.push("changed after insert");
        doc.n = 99;
        const found = await c.findOne({ _id: "a" });
        expect(found).toEqual({ _id: "a", owner: "x", n: 1, tags: ["t"] });
        try {
          found?.tags?.push("changed after find"); // a frozen document refuses; a copy takes it
        } catch {
          // frozen
        }
        expect((await c.findOne({ _id: "a" }))?.tags).toEqual(["t"]);
      });

      it("live in their own collection", async () => {
        const a = await rows();
        const b = await store.collection<Row>("other-rows");
        await a.insertOne({ _id: "a", owner: "x", n: 1 });
        await b.insertOne({ _id: "a", owner: "y", n: 2 });
        expect(await a.findOne({ _id: "a" })).toEqual({ _id: "a", owner: "x", n: 1 });
        expect(await b.findOne({ _id: "a" })).toEqual({ _id: "a", owner: "y", n: 2 });
      });
    });

    describe("collections and indexes", () => {
      it("opening a collection again, with its indexes, is harmless and sees the same documents", async () => {
        const first = await rows();
        await first.insertOne({ _id: "a", owner: "x", n: 1 });
        const again = await rows();
        expect(await again.findOne({ _id: "a" })).toEqual({ _id: "a", owner: "x", n: 1 });
        await expect(again.insertOne({ _id: "b", owner: "x", n: 1 })).rejects.toBeInstanceOf(DuplicateKeyError);
        await again.insertOne({ _id: "c", owner: "x", n: 2 });
        expect(await first.count({})).toBe(2);
      });

      it("a bulk collection is a collection like any other, opened again with the option or not", async () => {
        const bulk = await store.collection<Row>("bulk-rows", ROW_INDEXES, { bulk: true });
        await seed(bulk, [1, 2, 3]);
        await expect(bulk.insertOne({ _id: "r01", owner: "x", n: 9 })).rejects.toBeInstanceOf(DuplicateKeyError);
        expect(await bulk.updateOne({ _id: "r02", n: 2 }, { $set: { n: 20 } })).toEqual({ _id: "r02", owner: "even", n: 20 });
        const again = await store.collection<Row>("bulk-rows", ROW_INDEXES, { bulk: true });
        expect(sortedIds(await again.find({ owner: "odd" }))).toEqual(["r01", "r03"]);
        expect(await again.deleteMany({ _id: "r01" })).toBe(1);
        expect(await (await store.collection<Row>("bulk-rows", ROW_INDEXES, { bulk: true })).count({})).toBe(2);
      });

      it("a collection without declared indexes works", async () => {
        const c = await store.collection<Row>("plain");
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        await c.insertOne({ _id: "b", owner: "x", n: 1 });
        expect(await c.count({ owner: "x", n: 1 })).toBe(2);
      });
    });

    describe("insertOne", () => {
      it("refuses a taken _id with DuplicateKeyError and keeps the stored document", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        const err = await c.insertOne({ _id: "a", owner: "y", n: 2 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DuplicateKeyError);
        expect((err as DuplicateKeyError).collection).toBe("rows");
        expect(await c.findOne({ _id: "a" })).toEqual({ _id: "a", owner: "x", n: 1 });
      });

      it("refuses a taken unique key (over several fields) and allows repeats of a non-unique one", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1, status: "s" });
        await expect(c.insertOne({ _id: "b", owner: "x", n: 1 })).rejects.toBeInstanceOf(DuplicateKeyError);
        await c.insertOne({ _id: "c", owner: "x", n: 2, status: "s" });
        await c.insertOne({ _id: "d", owner: "y", n: 1, status: "s" });
        expect(sortedIds(await c.find({}))).toEqual(["a", "c", "d"]);
        expect(await c.count({ status: "s" })).toBe(3);
      });

      unless("unique index on a missing field")("treats a missing uniquely indexed field as one value (null)", async () => {
        const c = await store.collection<Row>("by-status", [{ fields: ["status"], unique: true }]);
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        await expect(c.insertOne({ _id: "b", owner: "x", n: 2 })).rejects.toBeInstanceOf(DuplicateKeyError);
      });
    });

    describe("insertMany", () => {
      it("is unordered: inserts the rest and reports the positions of duplicates", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        const r = await c.insertMany([
          { _id: "b", owner: "x", n: 2 },
          { _id: "a", owner: "z", n: 9 }, // _id taken before
          { _id: "c", owner: "x", n: 2 }, // unique (owner, n) taken by "b" in this batch
          { _id: "d", owner: "y", n: 2 },
          { _id: "d", owner: "y", n: 3 }, // _id taken by "d" in this batch
          { _id: "e", owner: "y", n: 4 },
        ]);
        expect(r).toEqual({ inserted: 3, duplicates: [1, 2, 4] });
        expect(await c.find({}, { sort: { field: "_id", direction: 1 } })).toEqual([
          { _id: "a", owner: "x", n: 1 },
          { _id: "b", owner: "x", n: 2 },
          { _id: "d", owner: "y", n: 2 },
          { _id: "e", owner: "y", n: 4 },
        ]);
      });

      it("of nothing inserts nothing", async () => {
        const c = await rows();
        expect(await c.insertMany([])).toEqual({ inserted: 0, duplicates: [] });
      });

      it("stores 150 000 small documents in one call, and finds duplicates anywhere in such a call", async () => {
        const c = await store.collection<{ _id: string; i: number; g: string }>("many");
        await c.insertOne({ _id: "k149999", i: -1, g: "before" });
        const docs = Array.from({ length: 150_000 }, (_, i) => ({ _id: `k${i}`, i, g: `g${i % 7}` }));
        docs[120_000] = { _id: "k7", i: 120_000, g: "again" };
        const r = await c.insertMany(docs);
        expect(r).toEqual({ inserted: 149_998, duplicates: [120_000, 149_999] });
        expect(await c.count({})).toBe(149_999);
        expect(await c.findOne({ _id: "k7" })).toEqual({ _id: "k7", i: 7, g: "g0" });
        expect(await c.findOne({ _id: "k149999" })).toEqual({ _id: "k149999", i: -1, g: "before" });
      });
    });

    describe("insertInOrder", () => {
      it("inserts in order and stops at the first duplicate, saying where: what went in is a prefix", async () => {
        const c = await rows();
        await c.insertOne({ _id: "c", owner: "x", n: 1 });
        const docs = ["a", "b", "c", "d", "e"].map((_id, i) => ({ _id, owner: "y", n: i }));
        expect(await c.insertInOrder(docs)).toBe(2);
        expect(sortedIds(await c.find({}))).toEqual(["a", "b", "c"]);
        expect((await c.findOne({ _id: "c" }))?.owner).toBe("x");
        // Going on after the duplicate inserts the rest.
        expect(await c.insertInOrder(docs.slice(3))).toBeUndefined();
        expect(sortedIds(await c.find({}))).toEqual(["a", "b", "c", "d", "e"]);
        expect(await c.insertInOrder(docs)).toBe(0);
        expect(await c.insertInOrder([])).toBeUndefined();
      });
    });

    describe("updateOne", () => {
      it("applies the update when the condition holds and returns the document as updated", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1, status: "new" });
        const u = await c.updateOne({ _id: "a", status: "new", n: { $lt: 5 } }, { $set: { status: "done" }, $inc: { n: 4 } });
        expect(u).toEqual({ _id: "a", owner: "x", n: 5, status: "done" });
        expect(await c.findOne({ _id: "a" })).toEqual(u);
      });

      it("returns undefined and changes nothing when the condition does not hold or nothing matches", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1, status: "new" });
        expect(await c.updateOne({ _id: "a", status: "done" }, { $set: { owner: "y" } })).toBeUndefined();
        expect(await c.updateOne({ _id: "a", n: { $gt: 1 } }, { $inc: { n: 1 } })).toBeUndefined();
        expect(await c.updateOne({ _id: "a", status: { $in: ["done", "failed"] } }, { $inc: { n: 1 } })).toBeUndefined();
        expect(await c.updateOne({ _id: "nope" }, { $set: { owner: "y" } })).toBeUndefined();
        expect(await c.find({})).toEqual([{ _id: "a", owner: "x", n: 1, status: "new" }]);
      });

      it("$inc adds (from 0 on a missing field)", async () => {
        const c = await store.collection<Counter>("counters");
        await c.insertOne({ _id: "a", n: 10 } as Counter);
        expect(await c.updateOne({ _id: "a" }, { $inc: { n: -3, m: 2 } })).toEqual({ _id: "a", n: 7, m: 2 });
        expect(await c.updateOne({ _id: "a" }, { $inc: { n: 0.5 } })).toEqual({ _id: "a", n: 7.5, m: 2 });
      });

      it("$max raises, never lowers (and sets a missing field)", async () => {
        const c = await store.collection<Counter>("counters");
        await c.insertOne({ _id: "a", n: 5 } as Counter);
        expect(await c.updateOne({ _id: "a" }, { $max: { n: 3 } })).toEqual({ _id: "a", n: 5 });
        expect(await c.updateOne({ _id: "a" }, { $max: { n: 8, m: -2 } })).toEqual({ _id: "a", n: 8, m: -2 });
      });

      it("$set sets and adds fields, including arrays; $unset removes optional fields", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1, status: "s", note: "keep?" });
        expect(await c.updateOne({ _id: "a" }, { $set: { tags: ["p", "q"], owner: "y" }, $unset: { status: true } })).toEqual({
          _id: "a",
          owner: "y",
          n: 1,
          note: "keep?",
          tags: ["p", "q"],
        });
        expect(await c.updateOne({ _id: "a" }, { $unset: { note: true, tags: true } })).toEqual({ _id: "a", owner: "y", n: 1 });
      });

      it("$set of an undefined value leaves the field reading as absent", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1, note: "old" });
        const u = await c.updateOne({ _id: "a" }, { $set: { note: undefined, n: 2 } });
        expect(u?.note).toBeUndefined();
        expect(u).toEqual({ _id: "a", owner: "x", n: 2 });
        expect((await c.findOne({ _id: "a" }))?.note).toBeUndefined();
      });

      it("ignores undefined values in the condition", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        expect(await c.updateOne({ _id: "a", note: undefined }, { $inc: { n: 1 } })).toMatchObject({ n: 2 });
        expect(await c.updateOne(loose({ _id: "a", n: { $gt: undefined, $lt: 3 } }), { $inc: { n: 1 } })).toMatchObject({ n: 3 });
      });

      it("with an empty update returns the matching document unchanged", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        expect(await c.updateOne({ _id: "a" }, {})).toEqual({ _id: "a", owner: "x", n: 1 });
        expect(await c.updateOne({ _id: "a" }, { $set: {} })).toEqual({ _id: "a", owner: "x", n: 1 });
        expect(await c.updateOne({ _id: "b" }, {})).toBeUndefined();
      });

      it("changes exactly one document when several match", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4]);
        const u = await c.updateOne({ owner: "even" }, { $set: { status: "picked" } });
        expect(u?.owner).toBe("even");
        expect(await c.count({ status: "picked" })).toBe(1);
        expect(await c.findOne({ status: "picked" })).toEqual(u);
      });

      it("refuses an update that would take a unique key with DuplicateKeyError and changes nothing", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        await c.insertOne({ _id: "b", owner: "x", n: 2 });
        const err = await c.updateOne({ _id: "b" }, { $set: { status: "s" }, $inc: { n: -1 } }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DuplicateKeyError);
        expect((err as DuplicateKeyError).collection).toBe("rows");
        expect(await c.findOne({ _id: "b" })).toEqual({ _id: "b", owner: "x", n: 2 });
        // The key is free again once the holder moves on.
        await c.updateOne({ _id: "a" }, { $set: { owner: "z" } });
        expect(await c.updateOne({ _id: "b" }, { $inc: { n: -1 } })).toEqual({ _id: "b", owner: "x", n: 1 });
      });

      unless("concurrent conditional updates")("as a lease: of two concurrent conditional updates exactly one wins", async () => {
        const c = await store.collection<{ _id: string; owner: string; until: number; takes: number }>("leases");
        await c.insertOne({ _id: "job", owner: "", until: 0, takes: 0 });
        const now = 1_000;
        const take = (who: string) =>
          c.updateOne({ _id: "job", until: { $lt: now } }, { $set: { owner: who, until: now + 500 }, $inc: { takes: 1 } });
        const results = await Promise.all(["A", "B", "C", "D", "E", "F"].map(take));
        const won = results.filter((r) => r !== undefined);
        expect(won).toHaveLength(1);
        expect(await c.findOne({ _id: "job" })).toEqual({ _id: "job", owner: won[0]?.owner, until: 1_500, takes: 1 });
      });
    });

    describe("filters", () => {
      it("equality on several fields", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5]);
        expect(ids(await c.find({ owner: "odd", n: 3 }))).toEqual(["r03"]);
        expect(await c.findOne({ owner: "even", n: 3 })).toBeUndefined();
        expect(await c.findOne({ _id: "r04" })).toEqual({ _id: "r04", owner: "even", n: 4 });
        expect(await c.findOne({ _id: "nope" })).toBeUndefined();
      });

      it("ranges on numbers: $gt, $gte, $lt, $lte, alone and together", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await c.count({ n: { $gt: 7 } })).toBe(3);
        expect(await c.count({ n: { $gte: 7 } })).toBe(4);
        expect(await c.count({ n: { $lt: 3 } })).toBe(2);
        expect(await c.count({ n: { $lte: 3 } })).toBe(3);
        expect(sortedIds(await c.find({ n: { $gt: 2, $lte: 5 } }))).toEqual(["r03", "r04", "r05"]);
        expect(sortedIds(await c.find({ owner: "even", n: { $gte: 4, $lt: 9 } }))).toEqual(["r04", "r06", "r08"]);
        expect(await c.count({ n: { $gt: 5, $lt: 5 } })).toBe(0);
        expect(await c.count({ n: { $gt: 0.5, $lt: 1.5 } })).toBe(1);
      });

      it("ranges on strings, as for paging by _id", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        const page = (token?: string) =>
          c.find(token === undefined ? {} : { _id: { $lt: token } }, { sort: { field: "_id", direction: -1 }, limit: 5 });
        const first = await page();
        expect(ids(first)).toEqual(["r12", "r11", "r10", "r09", "r08"]);
        expect(ids(await page("r08"))).toEqual(["r07", "r06", "r05", "r04", "r03"]);
        expect(ids(await page("r03"))).toEqual(["r02", "r01"]);
        expect(await c.count({ _id: { $gte: "r05", $lte: "r07" } })).toBe(3);
        expect(await c.count({ _id: { $gt: "r1" } })).toBe(3);
        expect(await c.count({ owner: { $gt: "even" } })).toBe(6);
      });

      it("$in on strings and numbers, $ne", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5]);
        await c.updateOne({ _id: "r02" }, { $set: { status: "a" } });
        await c.updateOne({ _id: "r03" }, { $set: { status: "b" } });
        expect(sortedIds(await c.find({ n: { $in: [1, 4, 9] } }))).toEqual(["r01", "r04"]);
        expect(sortedIds(await c.find({ _id: { $in: ["r05", "r02", "zz"] } }))).toEqual(["r02", "r05"]);
        expect(sortedIds(await c.find({ status: { $in: ["a", "b"] } }))).toEqual(["r02", "r03"]);
        expect(await c.count({ n: { $in: [] } })).toBe(0);
        expect(sortedIds(await c.find({ owner: "even", _id: { $ne: "r02" } }))).toEqual(["r04"]);
        // $ne matches documents without the field too.
        expect(sortedIds(await c.find({ status: { $ne: "a" } }))).toEqual(["r01", "r03", "r04", "r05"]);
      });

      it("an undefined value or operator is no condition", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3]);
        expect(await c.count({ note: undefined })).toBe(3);
        expect(await c.count(loose({ owner: undefined, n: { $gt: undefined } }))).toBe(3);
        expect(await c.count(loose({ n: { $gte: 2, $lt: undefined }, status: undefined }))).toBe(2);
        expect(await c.deleteMany(loose({ owner: "odd", n: { $in: undefined } }))).toBe(2);
      });

      unless("range on a missing field")("range conditions never match a document without the field", async () => {
        const c = await rows();
        await c.insertOne({ _id: "a", owner: "x", n: 1 });
        await c.insertOne({ _id: "b", owner: "x", n: 2, status: "m" });
        expect(ids(await c.find({ status: { $lt: "z" } }))).toEqual(["b"]);
        expect(ids(await c.find({ status: { $lte: "z" } }))).toEqual(["b"]);
        expect(ids(await c.find({ status: { $gt: "a" } }))).toEqual(["b"]);
      });
    });

    describe("find", () => {
      it("returns every match without options", async () => {
        const c = await rows();
        await seed(c, [3, 1, 2]);
        expect(sortedIds(await c.find({}))).toEqual(["r01", "r02", "r03"]);
        expect(await c.find({ owner: "none" })).toEqual([]);
      });

      it("sorts ascending and descending by numbers and strings, and limits", async () => {
        const c = await rows();
        await seed(c, [5, 3, 9, 1, 7, 2]);
        expect((await c.find({}, { sort: { field: "n", direction: 1 } })).map((r) => r.n)).toEqual([1, 2, 3, 5, 7, 9]);
        expect((await c.find({}, { sort: { field: "n", direction: -1 } })).map((r) => r.n)).toEqual([9, 7, 5, 3, 2, 1]);
        expect(ids(await c.find({ owner: "odd" }, { sort: { field: "_id", direction: 1 }, limit: 2 }))).toEqual(["r01", "r03"]);
        expect(
          (await c.find({ owner: "odd", n: { $gt: 1, $lte: 7 } }, { sort: { field: "n", direction: -1 }, limit: 2 })).map((r) => r.n),
        ).toEqual([7, 5]);
        expect(await c.find({}, { sort: { field: "n", direction: 1 }, limit: 100 })).toHaveLength(6);
        expect(sortedIds(await c.find({ owner: "even" }, { limit: 10 }))).toEqual(["r02"]);
      });

      it("finds a list of ids: each match once, however often it is named, missing ones left out", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        const named = ["r03", "r11", "r99", "r03", "r07", "r01", "r05", "r09", "r12", "r02", "nope"];
        expect(sortedIds(await c.find({ _id: { $in: named } }))).toEqual(["r01", "r02", "r03", "r05", "r07", "r09", "r11", "r12"]);
        expect(await c.find({ _id: { $in: [] } })).toEqual([]);
        // With another condition beside the list, both hold.
        expect(sortedIds(await c.find({ _id: { $in: named }, owner: "odd" }))).toEqual(["r01", "r03", "r05", "r07", "r09", "r11"]);
      });

      it("with a limit of 0 returns nothing", async () => {
        const c = await rows();
        await seed(c, [1, 2]);
        expect(await c.find({}, { limit: 0 })).toEqual([]);
      });
    });

    describe("count and deleteMany", () => {
      it("count counts the matches", async () => {
        const c = await rows();
        expect(await c.count({})).toBe(0);
        await seed(c, [1, 2, 3, 4, 5]);
        expect(await c.count({})).toBe(5);
        expect(await c.count({ owner: "odd" })).toBe(3);
        expect(await c.count({ owner: "odd", n: { $ne: 1 } })).toBe(2);
      });

      it("deleteMany deletes the matches and says how many", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5, 6]);
        expect(await c.deleteMany({ n: { $gte: 5 } })).toBe(2);
        expect(await c.deleteMany({ n: { $gte: 5 } })).toBe(0);
        expect(await c.deleteMany({ _id: "r01" })).toBe(1);
        expect(sortedIds(await c.find({}))).toEqual(["r02", "r03", "r04"]);
        // A deleted document's keys are free again.
        await c.insertOne({ _id: "r01", owner: "odd", n: 1 });
        expect(await c.deleteMany({})).toBe(4);
        expect(await c.count({})).toBe(0);
      });

      it("deleteMany deletes a list of ids, each once, and counts only what existed", async () => {
        const c = await rows();
        await seed(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await c.deleteMany({ _id: { $in: ["r02", "r04", "r04", "r08", "r77", "r10", "r06", "r01", "r09", "r03", "gone"] } })).toBe(
          8,
        );
        expect(sortedIds(await c.find({}))).toEqual(["r05", "r07"]);
        expect(await c.deleteMany({ _id: { $in: [] } })).toBe(0);
      });
    });
  });
}
