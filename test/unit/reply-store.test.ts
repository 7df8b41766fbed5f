import { describe, expect, it } from "vitest";
import { InstanceLiveness } from "../../src/core/iotp/instance-liveness.js";
import { ReplyStore } from "../../src/core/iotp/reply-store.js";
import { measuredStore } from "../../src/store/measured-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { nonAtomicStore } from "../support/store-wrappers.js";

/** An instance that is always alive: only a lease that ran out frees its claims. */
const alive = (id: string) => ({ id, isAlive: async () => true });

describe("ReplyStore", () => {
  it("gives the first claim of a key the work, and later ones the outcome once it is done", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000, alive("a"));
    expect((await replies.claim("k", "d1")).kind).toBe("new");
    expect((await replies.claim("k", "d1")).kind).toBe("running");
    await replies.complete("k", { response: "AQI=" });
    const done = await replies.claim("k", "d1");
    expect(done.kind).toBe("done");
    expect(done.kind === "done" ? done.doc.response : "").toBe("AQI=");
  });

  it("stores a claim and its outcome with inserts and reads by key, never an update or a delete (each scans on FerretDB)", async () => {
    const ops: string[] = [];
    const store = measuredStore(new MemoryStore(), (collection, operation) => ops.push(`${collection}.${operation}`));
    const replies = await ReplyStore.open(store, 60_000, 30_000, alive("a"));
    const claim = await replies.claim("k", "d1");
    await replies.complete("k", { response: "AQI=" }, claim.kind === "new" ? claim.since : 0);
    expect((await replies.claim("k", "d1")).kind).toBe("done");
    expect(ops.filter((op) => /updateOne|deleteMany/.test(op))).toEqual([]);
  });

  it("tells a claim with another payload digest that the key is taken", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000, alive("a"));
    await replies.claim("k", "d1");
    expect((await replies.claim("k", "d2")).kind).toBe("mismatch");
  });

  it("forgets a released (transient) outcome so the retry works afresh", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 30_000, alive("a"));
    await replies.claim("k", "d1");
    await replies.release("k");
    expect((await replies.claim("k", "d1")).kind).toBe("new");
  });

  it("lets another process take over a claim whose lease ran out", async () => {
    const store = new MemoryStore();
    const crashed = await ReplyStore.open(store, 60_000, 10, alive("a"));
    const survivor = await ReplyStore.open(store, 60_000, 10, alive("b"));
    await crashed.claim("k", "d1", 1_000);
    expect((await survivor.claim("k", "d1", 1_005)).kind).toBe("running");
    expect((await survivor.claim("k", "d1", 1_020)).kind).toBe("new");
    await crashed.complete("k", { response: "late" });
    expect((await survivor.get("k"))?.state).toBe("running");
  });

  it("forgets replies after their time to live", async () => {
    const replies = await ReplyStore.open(new MemoryStore(), 100, 30_000, alive("a"));
    await replies.claim("k", "d1", 1_000);
    await replies.complete("k", { response: "" });
    expect(await replies.sweep(1_050)).toBe(0);
    expect(await replies.sweep(1_200)).toBe(1);
    expect(await replies.get("k")).toBeUndefined();
  });

  it("lets another instance take over a claim once its owner's heartbeat stopped, and not while it beats, however long the lease", async () => {
    const store = new MemoryStore();
    const beats = { heartbeatMs: 1_000, deadMs: 3_000 };
    const holder = await InstanceLiveness.start(store, beats);
    const other = await InstanceLiveness.start(store, beats);
    try {
      const slow = await ReplyStore.open(store, 60_000, 600_000, holder);
      const retry = await ReplyStore.open(store, 60_000, 600_000, other);
      const t0 = Date.now();
      await slow.claim("k", "d1", t0);
      // The holder beats (its record is fresh): the retry waits, whatever time it is within the lease.
      expect((await retry.claim("k", "d1", t0 + 1_000)).kind).toBe("running");
      // Its heartbeat is older than deadMs: dead, so taken over long before the lease ends.
      expect((await retry.claim("k", "d1", t0 + 5_000)).kind).toBe("new");
      expect((await retry.get("k"))?.owner).toBe(other.id);
      // The old holder's late outcome does not overwrite the new owner's.
      await slow.complete("k", { response: "late" });
      expect((await retry.get("k"))?.state).toBe("running");
    } finally {
      await holder.stop();
      await other.stop();
    }
  });

  it("gives a dead owner's claim to exactly one of several retries at once, on a store whose conditional updates are not atomic", async () => {
    const store = nonAtomicStore(new MemoryStore());
    const t0 = Date.now();
    await (await ReplyStore.open(store, 60_000, 600_000, alive("killed"))).claim("k", "d1", t0);
    const retries = await Promise.all(
      ["b", "c", "d"].map((id) => ReplyStore.open(store, 60_000, 600_000, { id, isAlive: async (owner) => owner !== "killed" })),
    );
    const claims = await Promise.all(retries.map((r) => r.claim("k", "d1", t0 + 1_000)));
    expect(claims.map((c) => c.kind).sort()).toEqual(["new", "running", "running"]);
    const winner = retries[claims.findIndex((c) => c.kind === "new")];
    expect((await winner?.get("k"))?.owner).toBe(winner?.instance);
  });

  it("frees the claims of an instance that stopped at once", async () => {
    const store = new MemoryStore();
    const beats = { heartbeatMs: 1_000, deadMs: 3_000 };
    const holder = await InstanceLiveness.start(store, beats);
    const other = await InstanceLiveness.start(store, beats);
    try {
      await (await ReplyStore.open(store, 60_000, 600_000, holder)).claim("k", "d1");
      await holder.stop();
      expect((await (await ReplyStore.open(store, 60_000, 600_000, other)).claim("k", "d1")).kind).toBe("new");
    } finally {
      await other.stop();
    }
  });
});
