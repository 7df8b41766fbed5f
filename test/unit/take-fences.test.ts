import { describe, expect, it } from "vitest";
import { TakeFences } from "../../src/core/iotp/take-fences.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Doc } from "../../src/store/store.js";

const alive = (ids: string[]) => async (owner: string) => ids.includes(owner);

describe("TakeFences", () => {
  it("lets one taker of a state through while another live one takes it, and the next once it is done", async () => {
    const store = new MemoryStore();
    const b = await TakeFences.open(store, { id: "b", isAlive: alive(["b", "c"]) });
    const c = await TakeFences.open(store, { id: "c", isAlive: alive(["b", "c"]) });
    let release!: () => void;
    const inside = new Promise<void>((r) => (release = r));
    const first = b.run("order-1|killed|0", async () => {
      await inside;
      return "b";
    });
    expect(await c.run("order-1|killed|0", async () => "c")).toBeUndefined();
    expect(await c.run("order-2|killed|0", async () => "c")).toBe("c"); // another state: not in the way
    release();
    expect(await first).toBe("b");
    expect(await c.run("order-1|killed|0", async () => "c")).toBe("c");
    expect(await (await store.collection<Doc>("take_fences")).count({})).toBe(0);
  });

  it("passes a fence left by a taker that died mid-take (it no longer beats)", async () => {
    const store = new MemoryStore();
    const fences = await store.collection<Doc & { by: string; at: number }>("take_fences");
    await fences.insertOne({ _id: "order-1|killed|0#0", by: "died-mid-take", at: Date.now() });
    const c = await TakeFences.open(store, { id: "c", isAlive: alive(["c"]) });
    expect(await c.run("order-1|killed|0", async () => "c")).toBe("c");
    expect(await fences.count({})).toBe(1); // the dead taker's, left; its own removed
  });

  it("sweeps away fences older than a take could last, and keeps the others", async () => {
    const store = new MemoryStore();
    const fences = await store.collection<Doc & { by: string; at: number }>("take_fences");
    const now = 1_000_000;
    await fences.insertOne({ _id: "order-1|killed|0#0", by: "died-mid-take", at: now - 61_000 });
    await fences.insertOne({ _id: "order-2|killed|0#0", by: "taking-now", at: now - 1_000 });
    const c = await TakeFences.open(store, { id: "c", isAlive: alive(["c", "taking-now"]) });
    expect(await c.sweep(now)).toBe(1);
    expect((await fences.find({})).map((f) => f._id)).toEqual(["order-2|killed|0#0"]);
  });
});
