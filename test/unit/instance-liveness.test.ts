import { describe, expect, it } from "vitest";
import { type InstanceDoc, InstanceLiveness } from "../../src/core/iotp/instance-liveness.js";
import { sleep } from "../../src/core/runtime/index.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { CollectionOptions, Store } from "../../src/store/store.js";
import { StallingStore } from "../support/stalling-store.js";

const BEATS = { heartbeatMs: 500, deadMs: 3_000 };
const HERE = "host-1/127.0.0.1:5000";

/** A store with the records of two killed instances: one that listened at HERE, one elsewhere. */
async function afterAKill(t0: number) {
  const store = new MemoryStore();
  const instances = await store.collection<InstanceDoc>("instances");
  await instances.insertOne({ _id: "killed-here", heartbeatAt: t0, startedAt: t0 - 60_000, address: HERE });
  await instances.insertOne({ _id: "killed-elsewhere", heartbeatAt: t0, startedAt: t0 - 60_000, address: "host-2/127.0.0.1:5000" });
  return store;
}

describe("InstanceLiveness", () => {
  it("is crowded while another instance is recorded and for two deadMs after it was last seen (or after its own start), else not", async () => {
    const store = new MemoryStore();
    const t0 = Date.now();
    const alone = await InstanceLiveness.start(store, BEATS);
    try {
      expect(await alone.crowded(t0)).toBe(true); // just started: a predecessor's work may still be coming free
      expect(await alone.crowded(t0 + 2 * BEATS.deadMs + 1_000)).toBe(false);
      const other = await InstanceLiveness.start(store, BEATS);
      expect(await alone.crowded(t0 + 2 * BEATS.deadMs + 2_000)).toBe(true);
      await other.stop();
      expect(await alone.crowded(t0 + 2 * BEATS.deadMs + 3_000)).toBe(true); // it was seen a second ago
      expect(await alone.crowded(t0 + 4 * BEATS.deadMs + 3_000)).toBe(false);
    } finally {
      await alone.stop();
    }
  });

  it("counts the instance that listened at its own address dead once it missed two heartbeats, any other only after deadMs", async () => {
    const t0 = Date.now();
    const store = await afterAKill(t0);
    const restarted = await InstanceLiveness.start(store, BEATS);
    const other = await InstanceLiveness.start(store, BEATS);
    try {
      await restarted.listensAt(HERE);
      // One missed heartbeat is not a death: a live instance may be late once.
      expect(await restarted.isAlive("killed-here", t0 + 900)).toBe(true);
      expect(await restarted.isAlive("killed-here", t0 + 1_200)).toBe(false);
      // Only the process now listening at that address knows its predecessor there is gone.
      expect(await restarted.isAlive("killed-elsewhere", t0 + 1_200)).toBe(true);
      expect(await other.isAlive("killed-here", t0 + 1_200)).toBe(true);
      expect(await other.isAlive("killed-here", t0 + 3_100)).toBe(false);
    } finally {
      await restarted.stop();
      await other.stop();
    }
  });

  it("removes the record of the instance that listened at its address once it missed two heartbeats, and leaves one that still beats", async () => {
    const store = new MemoryStore();
    const instances = await store.collection<InstanceDoc>("instances");
    const t0 = Date.now();
    await instances.insertOne({ _id: "killed-here", heartbeatAt: t0 - 1_000, startedAt: t0 - 60_000, address: HERE });
    await instances.insertOne({ _id: "draining-there", heartbeatAt: t0, startedAt: t0 - 60_000, address: "host-1/127.0.0.1:6000" });
    const beats = { heartbeatMs: 300, deadMs: 3_000 };
    const draining = setInterval(() => void instances.updateOne({ _id: "draining-there" }, { $set: { heartbeatAt: Date.now() } }), 50);
    const here = await InstanceLiveness.start(store, beats);
    const there = await InstanceLiveness.start(store, beats);
    try {
      await here.listensAt(HERE);
      await there.listensAt("host-1/127.0.0.1:6000");
      // Past the draining one's check (two heartbeats after its last beat before this one listened).
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await instances.findOne({ _id: "killed-here" })).toBeUndefined();
      // Every other instance counts it dead now, long before deadMs.
      expect(await there.isAlive("killed-here")).toBe(false);
      expect(await instances.findOne({ _id: "draining-there" })).toBeDefined();
    } finally {
      clearInterval(draining);
      await here.stop();
      await there.stop();
    }
  });

  it("keeps its address in its record when the record is written again after a sweep", async () => {
    const store = new MemoryStore();
    const instances = await store.collection<InstanceDoc>("instances");
    const liveness = await InstanceLiveness.start(store, { heartbeatMs: 20, deadMs: 100 });
    try {
      await liveness.listensAt(HERE);
      await instances.deleteMany({ _id: liveness.id });
      for (let i = 0; i < 100 && (await instances.findOne({ _id: liveness.id })) === undefined; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect((await instances.findOne({ _id: liveness.id }))?.address).toBe(HERE);
    } finally {
      await liveness.stop();
    }
  });

  it("is unbroken since a moment while every heartbeat since landed on time, and not after a stall, until a moment after it", async () => {
    const stalling = new StallingStore(new MemoryStore());
    const beats = { heartbeatMs: 400, deadMs: 1_200 }; // beats far apart: a loaded test machine's late timers are no break
    const liveness = await InstanceLiveness.start(stalling, beats);
    try {
      const t0 = Date.now();
      await sleep(3 * beats.heartbeatMs);
      expect(liveness.unbrokenSince(t0)).toBe(true);
      stalling.stall();
      await sleep(3 * beats.heartbeatMs);
      expect(liveness.unbrokenSince(t0)).toBe(false); // silent for longer than one and a half heartbeats
      stalling.resume();
      await sleep(2 * beats.heartbeatMs);
      expect(liveness.unbrokenSince(t0)).toBe(false); // beating again, but it may have counted as dead meanwhile
      expect(liveness.unbrokenSince(Date.now())).toBe(true);
      expect(liveness.unbrokenSince(Date.now(), Date.now() + 10 * beats.heartbeatMs)).toBe(false);
    } finally {
      stalling.resume();
      await liveness.stop();
    }
  });

  it("counts a heartbeat that found its record swept as a break", async () => {
    const store = new MemoryStore();
    const beats = { heartbeatMs: 400, deadMs: 1_200 }; // beats far apart: a loaded test machine's late timers are no break
    const liveness = await InstanceLiveness.start(store, beats);
    try {
      const t0 = Date.now();
      await (await store.collection<InstanceDoc>("instances")).deleteMany({ _id: liveness.id });
      await sleep(3 * beats.heartbeatMs);
      expect(liveness.unbrokenSince(t0)).toBe(false);
      expect(liveness.unbrokenSince(Date.now())).toBe(true);
    } finally {
      await liveness.stop();
    }
  });

  it("keeps its heartbeats in a collection whose writes pass the queue of a loaded database (urgent)", async () => {
    const store = new MemoryStore();
    const opened: { name: string; options: CollectionOptions | undefined }[] = [];
    const watching: Store = {
      collection: (name, indexes, options) => {
        opened.push({ name, options });
        return store.collection(name, indexes, options);
      },
      close: () => store.close(),
    };
    const liveness = await InstanceLiveness.start(watching, BEATS);
    await liveness.stop();
    expect(opened).toEqual([{ name: "instances", options: { urgent: true } }]);
  });
});
