import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { derivedSerials } from "../../src/domain/serial-generator.js";
import { allocateBlockSerials } from "../../src/emission-server/block-serials.js";
import type { EmitterFaults } from "../../src/emission-server/emitter-faults.js";
import { openEmissionCollections, serialKey } from "../../src/emission-server/emission-orders.js";
import { SerialRegistry } from "../../src/emission-server/serial-registry.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { measuredStore } from "../../src/store/measured-store.js";
import type { Collection, Doc, Store } from "../../src/store/store.js";
import { onBothStores } from "../support/both-stores.js";
import { codesOf, expectFinishedByNewInstance, registryOf } from "../support/emitted-codes.js";
import { bearer } from "../support/in-memory-mesh.js";
import { freshGtin, milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });
/** Short leases, so the next instance takes the dead one's order over at once. */
const config = testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000", WORK_LEASE_MS: "200" });

class SimulatedCrash extends Error {}

/** Faults that "kill" the emitter the first time it reaches `point` for chunk 2 of product 0 (block 3). */
function crashAt(point: keyof EmitterFaults): { faults: EmitterFaults; crashed: Promise<string> } {
  let reached!: (chunk: string) => void;
  const crashed = new Promise<string>((resolve) => (reached = resolve));
  const hook = (chunk: string): void => {
    if (!chunk.endsWith("/0/2")) return;
    reached(chunk);
    throw new SimulatedCrash(`crash at ${point}`);
  };
  return { faults: { [point]: hook }, crashed };
}

describe("Emitter after a crash between a block's serial writes", () => {
  onBothStores((open) => {
    for (const point of ["serialsFixed", "serialsTaken"] as const) {
      it(`a new instance finishes the order, and the registry holds exactly the serials of its codes (crash at ${point})`, async () => {
        const store = await open();
        const { faults, crashed } = crashAt(point);
        const dying = await buildEmissionServer({ config, log: silent, store, emitterFaults: faults });
        const client = createClient(EmitterService, inMemoryTransport(dying.spec, bearer(TOKENS.registrar)));
        const { orderId } = await client.createEmissionOrder(
          { participantId: "77", order: milkOrder(45) },
          { headers: { "x-request-id": `crash-${point}` } },
        );
        const chunk = await crashed;
        await dying.stop();
        expect(chunk).toBe(`${orderId}/0/2`);
        // What the dead instance left: two blocks' serials, and block 3's fixed (and maybe taken).
        expect((await registryOf(store, orderId)).length).toBe(point === "serialsFixed" ? 20 : 30);

        await expectFinishedByNewInstance({ config, log: silent, store }, orderId, 45);
      });
    }
  });
});

describe("allocateBlockSerials", () => {
  onBothStores((open) => {
    const spec = (orderId: string, g: string) => ({ orderId, product: 0, chunk: 0, gtin: g, count: 50, length: 13 });

    it("gives two instances racing for one block the same serials, and the registry exactly those", async () => {
      const db = await openEmissionCollections(await open());
      const s = spec("race", freshGtin());
      const [a, b] = await Promise.all([allocateBlockSerials(new SerialRegistry(db), s), allocateBlockSerials(new SerialRegistry(db), s)]);
      expect(b).toEqual(a);
      expect(new Set(a).size).toBe(50);
      const registered = (await db.serials.find({ orderId: "race" })).map((d) => d._id).sort();
      expect(registered).toEqual(a.map((x) => serialKey(s.gtin, x)).sort());
    });

    it("swaps a serial another order already holds for a fresh one, taking no more than the block needs", async () => {
      const db = await openEmissionCollections(await open());
      const s = spec("late", freshGtin());
      // A dead instance fixed these serials; another order took two of them before they were registered.
      const fixed = Array.from({ length: 50 }, (_, i) => `F${String(i).padStart(12, "0")}`);
      await db.chunks.insertOne({ _id: "late/0/0", serials: fixed, rev: 0 });
      await db.serials.insertMany(
        [fixed[3]!, fixed[7]!].map((x) => ({ _id: serialKey(s.gtin, x), orderId: "other", product: 0, chunk: 0 })),
      );
      const serials = await allocateBlockSerials(new SerialRegistry(db), s);
      expect(serials).toHaveLength(50);
      expect(new Set(serials).size).toBe(50);
      expect(serials).not.toContain(fixed[3]);
      expect(serials).not.toContain(fixed[7]);
      expect(serials.filter((x) => fixed.includes(x))).toHaveLength(48);
      expect((await db.chunks.findOne({ _id: "late/0/0" }))?.serials).toEqual(serials);
      const registered = (await db.serials.find({ orderId: "late" })).map((d) => d._id).sort();
      expect(registered).toEqual(serials.map((x) => serialKey(s.gtin, x)).sort());
    });
  });
});

describe("allocateBlockSerials with the order's serial seed", () => {
  onBothStores((open) => {
    const spec = (orderId: string, g: string) => ({ orderId, product: 0, chunk: 0, gtin: g, count: 50, length: 13, seed: "seed-1" });

    it("derives the same serials on every try and for racing instances, writes no chunk document, and registers exactly those", async () => {
      const db = await openEmissionCollections(await open());
      const s = spec("derived", freshGtin());
      const [a, b] = await Promise.all([allocateBlockSerials(new SerialRegistry(db), s), allocateBlockSerials(new SerialRegistry(db), s)]);
      expect(b).toEqual(a);
      expect(await allocateBlockSerials(new SerialRegistry(db), s)).toEqual(a);
      expect(new Set(a).size).toBe(50);
      expect(await db.chunks.count({})).toBe(0);
      const registered = (await db.serials.find({ orderId: "derived" })).map((d) => d._id).sort();
      expect(registered).toEqual(a.map((x) => serialKey(s.gtin, x)).sort());
    });

    it("after a try that registered part of a block and died, reads a few holders, not one per serial, and registers exactly the block's", async () => {
      let holderReads = 0;
      let listReads = 0;
      const counted = measuredStore(await open(), (collection, operation) => {
        if (collection === "serials" && operation === "findOne") holderReads++;
        if (collection === "serials" && operation === "find") listReads++;
      });
      const db = await openEmissionCollections(counted);
      const s = { ...spec("partial", freshGtin()), count: 1_000 };
      const derived = derivedSerials(s.seed, "partial/0/0", 1_000, 13);
      // The dead try registered the first 600, in order, and died.
      await db.serials.insertMany(
        derived.slice(0, 600).map((x) => ({ _id: serialKey(s.gtin, x), orderId: "partial", product: 0, chunk: 0 })),
      );
      holderReads = 0;
      const serials = await allocateBlockSerials(new SerialRegistry(db), s);
      expect(serials).toEqual(derived);
      expect(holderReads).toBeLessThanOrEqual(25);
      expect(listReads).toBe(0);
      const registered = (await db.serials.find({ orderId: "partial" })).map((d) => d._id).sort();
      expect(registered).toEqual(derived.map((x) => serialKey(s.gtin, x)).sort());
    });

    it("after a try that registered part of a block and died, swaps a serial another order holds past that part", async () => {
      const db = await openEmissionCollections(await open());
      const s = { ...spec("partial-other", freshGtin()), count: 1_000 };
      const derived = derivedSerials(s.seed, "partial-other/0/0", 1_000, 13);
      const mine = derived.slice(0, 600).map((x) => ({ _id: serialKey(s.gtin, x), orderId: "partial-other", product: 0, chunk: 0 }));
      await db.serials.insertMany([...mine, { _id: serialKey(s.gtin, derived[800]!), orderId: "other", product: 0, chunk: 0 }]);
      const serials = await allocateBlockSerials(new SerialRegistry(db), s);
      expect(serials).not.toContain(derived[800]);
      expect(serials.filter((x) => derived.includes(x))).toHaveLength(999);
      const registered = (await db.serials.find({ orderId: "partial-other" })).map((d) => d._id).sort();
      expect(registered).toEqual(serials.map((x) => serialKey(s.gtin, x)).sort());
      expect((await db.serials.findOne({ _id: serialKey(s.gtin, derived[800]!) }))?.orderId).toBe("other");
    });

    it("records a swap of a serial another order holds, and a later try keeps it even once that serial is free again", async () => {
      const db = await openEmissionCollections(await open());
      const s = spec("swapped", freshGtin());
      const derived = derivedSerials(s.seed, "swapped/0/0", 50, 13);
      const other = [derived[3]!, derived[7]!].map((x) => ({ _id: serialKey(s.gtin, x), orderId: "other", product: 0, chunk: 0 }));
      await db.serials.insertMany(other);
      const serials = await allocateBlockSerials(new SerialRegistry(db), s);
      expect(serials).not.toContain(derived[3]);
      expect(serials).not.toContain(derived[7]);
      expect(serials.filter((x) => derived.includes(x))).toHaveLength(48);
      expect((await db.chunks.findOne({ _id: "swapped/0/0" }))?.serials).toEqual(serials);
      // The other order is refused and gives its serials back: a retry of the block still emits the swapped ones.
      await db.serials.deleteMany({ orderId: "other" });
      expect(await allocateBlockSerials(new SerialRegistry(db), s)).toEqual(serials);
      const registered = (await db.serials.find({ orderId: "swapped" })).map((d) => d._id).sort();
      expect(registered).toEqual(serials.map((x) => serialKey(s.gtin, x)).sort());
    });
  });
});

/** The store as one instance sees it: every `find` on the orders (its resume scans) takes `ms` longer. */
function slowScans(store: Store, ms: number): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "collection") return Reflect.get(target, prop, receiver) as unknown;
      return async (name: string, ...rest: unknown[]) => {
        const c = await (target.collection as (n: string, ...r: unknown[]) => Promise<Collection<Doc>>)(name, ...rest);
        if (name !== "orders") return c;
        return new Proxy(c, {
          get(col, op, r) {
            const value = Reflect.get(col, op, r) as unknown;
            if (op !== "find" || typeof value !== "function") return typeof value === "function" ? value.bind(col) : value;
            return async (...args: unknown[]) => {
              await new Promise((done) => setTimeout(done, ms));
              return (value as (...a: unknown[]) => Promise<unknown>).apply(col, args);
            };
          },
        });
      };
    },
  });
}

describe("Emitter making a block slower than its lease", () => {
  // The embedded store only: what is tested is the emitter's lease, the same on any store.
  it("keeps the order's lease while it makes the block, so another live instance never starts the same block", async () => {
    const store = new MemoryStore();
    const short = testConfig({
      BLOCK_SIZE: "10",
      EMISSION_RATE: "1000000",
      WORK_LEASE_MS: "300",
      INSTANCE_HEARTBEAT_MS: "100",
      INSTANCE_DEAD_MS: "10000",
    });
    let reached: () => void = () => undefined;
    const slowBlock = new Promise<void>((resolve) => (reached = resolve));
    let slowOnce = true;
    // The first instance takes five leases' time over its first block (as after a crash, reading its serials' holders),
    // and its scans of the orders are slow too (a busy store), so they cannot be what keeps its lease.
    const slow = await buildEmissionServer({
      config: short,
      log: silent,
      store: slowScans(store, 1_200),
      emitterFaults: {
        serialsFixed: async () => {
          if (!slowOnce) return;
          slowOnce = false;
          reached();
          await new Promise((r) => setTimeout(r, 1_500));
        },
      },
    });
    const startedByOther: string[] = [];
    const other = await buildEmissionServer({
      config: short,
      log: silent,
      store,
      emitterFaults: { serialsFixed: (chunk) => void startedByOther.push(chunk) },
    });
    try {
      const client = createClient(EmitterService, inMemoryTransport(slow.spec, bearer(TOKENS.registrar)));
      const { orderId } = await client.createEmissionOrder(
        { participantId: "77", order: milkOrder(30) },
        { headers: { "x-request-id": "slow-block" } },
      );
      await slowBlock;
      expect(await codesOf(slow, orderId)).toHaveLength(30);
      expect(startedByOther).toEqual([]);
    } finally {
      await Promise.all([slow.stop(), other.stop()]);
    }
  });
});

describe("Emitter taking over a dead instance's order", () => {
  // The embedded store only: what is tested is the emitter's choice, the same on any store.
  it("starts it at the next scan even when every emitting slot is busy, long before the dead holder's lease ends", async () => {
    const store = new MemoryStore();
    // Leases of ten minutes: only the holder's death, not its lease running out, can move the order
    // (a stopped instance is dead at once; a slow machine never makes a live one look dead within 10 s).
    const slow = testConfig({
      BLOCK_SIZE: "10",
      EMISSION_RATE: "1000000",
      WORK_LEASE_MS: "600000",
      INSTANCE_HEARTBEAT_MS: "100",
      INSTANCE_DEAD_MS: "10000",
    });
    const stuck: (() => void)[] = [];
    const hung: string[] = [];
    let reached: () => void = () => undefined;
    const hang = (chunk: string): Promise<void> => {
      hung.push(chunk);
      reached();
      return new Promise<void>((_, reject) => stuck.push(() => reject(new SimulatedCrash("released at the end"))));
    };
    const until = (n: number) => new Promise<void>((resolve) => (reached = () => hung.length >= n && resolve())).then(() => undefined);
    const release = (): void => {
      for (const r of stuck.splice(0)) r();
    };
    const free = new Set<string>();
    // The surviving instance: its own orders never get past their first block, so all its emitting slots stay taken.
    const busy = await buildEmissionServer({
      config: slow,
      log: silent,
      store,
      emitterFaults: { serialsFixed: (chunk) => (free.has(chunk.split("/")[0] ?? "") ? undefined : hang(chunk)) },
    });
    const dying = await buildEmissionServer({ config: slow, log: silent, store, emitterFaults: { serialsFixed: (chunk) => hang(chunk) } });
    try {
      const busyClient = createClient(EmitterService, inMemoryTransport(busy.spec, bearer(TOKENS.registrar)));
      const slotsTaken = until(4);
      for (let i = 0; i < 6; i++)
        await busyClient.createEmissionOrder(
          { participantId: "77", order: milkOrder(30) },
          { headers: { "x-request-id": `busy-order-${i}` } },
        );
      await slotsTaken;
      const dyingClient = createClient(EmitterService, inMemoryTransport(dying.spec, bearer(TOKENS.registrar)));
      const dyingStuck = until(5);
      const { orderId } = await dyingClient.createEmissionOrder(
        { participantId: "77", order: milkOrder(30) },
        { headers: { "x-request-id": "taken-over" } },
      );
      await dyingStuck;
      expect(hung.at(-1)).toBe(`${orderId}/0/0`);
      free.add(orderId);
      const stopping = dying.stop(); // its heartbeat record goes: dead from now on
      stuck.pop()?.(); // the dying instance's emission ends
      await stopping;
      expect(await codesOf(busy, orderId)).toHaveLength(30);
    } finally {
      const stopping = busy.stop();
      release();
      await stopping;
    }
  });
});
