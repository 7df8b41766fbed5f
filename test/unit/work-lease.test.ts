import { describe, expect, it } from "vitest";
import { InstanceLiveness } from "../../src/core/iotp/instance-liveness.js";
import { TakeFences } from "../../src/core/iotp/take-fences.js";
import { type LeaseContext, WorkLease, type LeasedDoc } from "../../src/core/iotp/work-lease.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection, Store } from "../../src/store/store.js";
import { sleep } from "../../src/core/runtime/index.js";
import { StallingStore } from "../support/stalling-store.js";
import { forwarding, nonAtomic } from "../support/store-wrappers.js";

const BEATS = { heartbeatMs: 1_000, deadMs: 3_000 };

async function leaseOf(store: Store, docs: Collection<LeasedDoc>, liveness: LeaseContext["liveness"], ms = 600_000) {
  return new WorkLease(docs, { liveness, ms, fences: await TakeFences.open(store, liveness) });
}

async function twoInstances() {
  const store = new MemoryStore();
  const docs = await store.collection<LeasedDoc>("work");
  await docs.insertOne({ _id: "order-1", leaseOwner: "", leaseUntil: 0 });
  const a = await InstanceLiveness.start(store, BEATS);
  const b = await InstanceLiveness.start(store, BEATS);
  return { store, docs, a, b, leaseA: await leaseOf(store, docs, a), leaseB: await leaseOf(store, docs, b) };
}

describe("WorkLease", () => {
  it("has a resume scan due at every try while other instances may drop work, else once a third of a lease", async () => {
    const store = new MemoryStore();
    const docs = await store.collection<LeasedDoc>("work");
    let crowded = false;
    const liveness = { id: "a", isAlive: async () => true, heartbeatMs: 1_000, crowded: async () => crowded };
    const lease = await leaseOf(store, docs, liveness, 3_000);
    const t0 = Date.now();
    expect(await lease.scanDue(t0)).toBe(true);
    expect(await lease.scanDue(t0 + 500)).toBe(false);
    expect(await lease.scanDue(t0 + 1_000)).toBe(true);
    crowded = true;
    expect(await lease.scanDue(t0 + 1_250)).toBe(true);
    expect(await lease.scanDue(t0 + 1_500)).toBe(true);
    // Without a way to tell, every scan is due.
    const blind = await leaseOf(store, docs, { id: "b", isAlive: async () => true, heartbeatMs: 1_000 }, 3_000);
    expect([await blind.scanDue(t0), await blind.scanDue(t0 + 1)]).toEqual([true, true]);
  });

  it("keeps work with a holder that beats, however long it has not renewed, and gives it to another once the holder's heartbeat stopped", async () => {
    const { docs, a, b, leaseA, leaseB } = await twoInstances();
    try {
      const t0 = Date.now();
      expect(await leaseA.acquire("order-1", t0)).toBe(true);
      expect(await leaseB.acquire("order-1", t0 + 1_000)).toBe(false);
      // A's last heartbeat is more than deadMs old at t0 + 5 s: dead, though its lease runs for minutes.
      // A busy instance may leave a dead holder's work to an idle one.
      expect(await leaseB.acquire("order-1", t0 + 5_000, false)).toBe(false);
      expect(await leaseB.acquire("order-1", t0 + 5_000)).toBe(true);
      expect((await docs.findOne({ _id: "order-1" }))?.leaseOwner).toBe(b.id);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("frees the work of an instance that stopped at once, and the lease of a holder that no longer renews when it runs out", async () => {
    const { store, docs, a, b, leaseA, leaseB } = await twoInstances();
    try {
      await leaseA.acquire("order-1");
      await a.stop();
      expect(await leaseB.acquire("order-1")).toBe(true);
      await docs.insertOne({ _id: "order-2", leaseOwner: b.id, leaseUntil: 10 });
      const c = await leaseOf(store, docs, { id: "c", isAlive: async () => true, heartbeatMs: 1_000 }, 1_000);
      expect(await c.acquire("order-2", 20)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it("keeps its own lease without a read while its heartbeat is unbroken, renewing it once a third is gone", async () => {
    const { docs, a, b } = await twoInstances();
    const reads = { n: 0 };
    const counted: Collection<LeasedDoc> = {
      ...forwarding(docs),
      findOne: (f) => {
        reads.n++;
        return docs.findOne(f);
      },
    };
    const leaseA = await leaseOf(new MemoryStore(), counted, a);
    try {
      const t0 = Date.now();
      expect(await leaseA.acquire("order-1", t0)).toBe(true);
      const until = (await docs.findOne({ _id: "order-1" }))?.leaseUntil;
      reads.n = 0;
      expect(await leaseA.keep("order-1", t0 + 100)).toBe(true);
      expect(await leaseA.keep("order-1", t0 + 200)).toBe(true);
      expect(reads.n).toBe(0);
      expect((await docs.findOne({ _id: "order-1" }))?.leaseUntil).toBe(until); // no write either
      // A third of it gone (the heartbeat long silent by then, so the lease is read first): renewed.
      expect(await leaseA.keep("order-1", t0 + 300_000)).toBe(true);
      expect((await docs.findOne({ _id: "order-1" }))?.leaseUntil).toBe(t0 + 300_000 + 600_000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("reads its lease after a break in its heartbeat, and gives up one a live instance took meanwhile", async () => {
    const inner = new MemoryStore();
    const stalling = new StallingStore(inner);
    const beats = { heartbeatMs: 50, deadMs: 150 };
    const a = await InstanceLiveness.start(stalling, beats);
    const b = await InstanceLiveness.start(inner, beats);
    const docs = await inner.collection<LeasedDoc>("work");
    await docs.insertOne({ _id: "order-1", leaseOwner: "", leaseUntil: 0 });
    const leaseA = await leaseOf(inner, docs, a);
    const leaseB = await leaseOf(inner, docs, b);
    try {
      expect(await leaseA.acquire("order-1")).toBe(true);
      expect(await leaseA.keep("order-1")).toBe(true);
      // A's store hangs: its heartbeat stops, B counts it dead and takes the order.
      const beforeStall = Date.now();
      stalling.stall();
      await sleep(4 * beats.deadMs);
      expect(await leaseB.acquire("order-1")).toBe(true);
      stalling.resume();
      await sleep(3 * beats.heartbeatMs); // A beats again
      expect(a.unbrokenSince(beforeStall)).toBe(false);
      expect(await leaseA.keep("order-1")).toBe(false);
      expect(await leaseB.keep("order-1")).toBe(true);
    } finally {
      stalling.resume();
      await a.stop();
      await b.stop();
    }
  });

  it("reads a lease it gave up even when a renewal sent before was answered after, and leaves it to the instance that took it", async () => {
    const { docs, a, b, leaseB } = await twoInstances();
    let held: Promise<void> | undefined;
    let answer = (): void => undefined;
    const slowAnswers: Collection<LeasedDoc> = {
      ...forwarding(docs),
      // Applied at once, answered when the test says: a reply still on its way.
      updateOne: async (f, u) => {
        const r = await docs.updateOne(f, u);
        await held;
        return r;
      },
    };
    const leaseA = await leaseOf(new MemoryStore(), slowAnswers, a);
    try {
      expect(await leaseA.acquire("order-1")).toBe(true);
      held = new Promise((r) => (answer = r));
      const renewal = leaseA.acquire("order-1");
      const release = leaseA.release("order-1");
      answer();
      expect(await renewal).toBe(true);
      await release;
      expect(await leaseB.acquire("order-1")).toBe(true); // the released lease is free: B takes it
      expect(await leaseA.keep("order-1")).toBe(false);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("gives a dead holder's work, or free work, to exactly one of several instances taking it at once, on a store whose conditional updates are not atomic", async () => {
    const store = new MemoryStore();
    const docs = await store.collection<LeasedDoc>("work");
    const t0 = Date.now();
    await docs.insertOne({ _id: "dead-holders", leaseOwner: "killed", leaseUntil: t0 + 600_000 });
    await docs.insertOne({ _id: "free", leaseOwner: "", leaseUntil: 0 });
    const takers = await Promise.all(
      ["b", "c", "d"].map((id) => leaseOf(store, nonAtomic(docs), { id, isAlive: async (owner) => owner !== "killed", heartbeatMs: 500 })),
    );
    for (const id of ["dead-holders", "free"]) {
      const got = await Promise.all(takers.map((lease) => lease.acquire(id, t0)));
      expect(got.filter(Boolean)).toHaveLength(1);
      const winner = takers[got.indexOf(true)];
      expect((await docs.findOne({ _id: id }))?.leaseOwner).toBe(winner?.owner);
    }
  });

  it("refuses a dead-after shorter than two heartbeats", async () => {
    await expect(InstanceLiveness.start(new MemoryStore(), { heartbeatMs: 1_000, deadMs: 1_500 })).rejects.toThrow(/INSTANCE_DEAD_MS/);
  });
});
