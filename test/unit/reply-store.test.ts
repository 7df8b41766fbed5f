import { describe, expect, it } from "vitest";
import { ReplyStore } from "../../src/core/reply-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";

describe("ReplyStore", () => {
  it("gives the first claim of a key the work, and later ones the outcome once it is done", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000);
    expect((await replies.claim("k", "d1")).kind).toBe("new");
    expect((await replies.claim("k", "d1")).kind).toBe("running");
    await replies.complete("k", { response: "AQI=" });
    const done = await replies.claim("k", "d1");
    expect(done.kind).toBe("done");
    expect(done.kind === "done" ? done.doc.response : "").toBe("AQI=");
  });

  it("tells a claim with another payload digest that the key is taken", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000);
    await replies.claim("k", "d1");
    expect((await replies.claim("k", "d2")).kind).toBe("mismatch");
  });

  it("forgets a released (transient) outcome so the retry works afresh", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000);
    await replies.claim("k", "d1");
    await replies.release("k");
    expect((await replies.claim("k", "d1")).kind).toBe("new");
  });

  it("lets another process take over a claim whose lease ran out", async () => {
    const store = new MemoryStore();
    const crashed = await ReplyStore.open(store, 60_000, 10);
    const survivor = await ReplyStore.open(store, 60_000, 10);
    await crashed.claim("k", "d1", 1_000);
    expect((await survivor.claim("k", "d1", 1_005)).kind).toBe("running");
    expect((await survivor.claim("k", "d1", 1_020)).kind).toBe("new");
    await crashed.complete("k", { response: "late" });
    expect((await survivor.get("k"))?.state).toBe("running");
  });

  it("forgets replies after their time to live", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 100, 30_000);
    await replies.claim("k", "d1", 1_000);
    await replies.complete("k", { response: "" });
    expect(await replies.sweep(1_050)).toBe(0);
    expect(await replies.sweep(1_200)).toBe(1);
    expect(await replies.get("k")).toBeUndefined();
  });
});
