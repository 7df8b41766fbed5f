import { describe, expect, it } from "vitest";
import { byKey, idsIn } from "../../src/store/by-key.js";

describe("idsIn", () => {
  it("gives the keys of a filter that is exactly an _id list", () => {
    expect(idsIn({ _id: { $in: ["a", "b"] } })).toEqual(["a", "b"]);
    expect(idsIn({ _id: { $in: [] } })).toEqual([]);
  });

  it("gives nothing for any other filter, so it runs as it is", () => {
    expect(idsIn({ _id: "a" })).toBeUndefined();
    expect(idsIn({ _id: { $in: ["a"] }, owner: "x" })).toBeUndefined();
    expect(idsIn({ _id: { $in: ["a"], $ne: "b" } })).toBeUndefined();
    expect(idsIn({ owner: { $in: ["a"] } })).toBeUndefined();
    expect(idsIn({ _id: ["a"] })).toBeUndefined();
    expect(idsIn({})).toBeUndefined();
  });
});

describe("byKey", () => {
  it("runs every key, a few at a time, and returns the results in key order", async () => {
    let running = 0;
    let most = 0;
    const keys = Array.from({ length: 50 }, (_, i) => i);
    const out = await byKey(keys, async (k) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, (Number(k) * 7) % 5));
      running--;
      return Number(k) * 2;
    });
    expect(out).toEqual(keys.map((k) => k * 2));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);
  });

  it("fails when one key fails", async () => {
    await expect(byKey(["a", "b"], async (k) => (k === "b" ? Promise.reject(new Error("no b")) : k))).rejects.toThrow("no b");
  });
});
