import { afterEach, describe, expect, it } from "vitest";
import { measuredStore } from "../../src/store/measured-store.js";
import type { Store } from "../../src/store/store.js";
import { onBothStores, type OpenStore } from "../support/both-stores.js";
import { meshOnStores } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

type Role = "emission" | "registrar" | "oms";

const WRITES = new Set(["insertOne", "insertMany", "updateOne", "deleteMany"]);
const READS = new Set(["findOne", "find", "count"]);

/** Store operations of one role on the collections a block moves through, by kind. */
class OperationCount {
  readonly ops = new Map<string, number>();
  counting = false;

  constructor(private readonly collections: readonly string[]) {}

  wrap(store: Store): Store {
    return measuredStore(store, (collection, operation) => {
      if (!this.counting || !this.collections.includes(collection)) return;
      const key = `${collection}.${operation}`;
      this.ops.set(key, (this.ops.get(key) ?? 0) + 1);
    });
  }

  /** Writes and reads per block. */
  per(blocks: number): { writes: number; reads: number } {
    let writes = 0;
    let reads = 0;
    for (const [key, n] of this.ops) {
      const op = key.split(".")[1] ?? "";
      if (WRITES.has(op)) writes += n;
      if (READS.has(op)) reads += n;
    }
    return { writes: writes / blocks, reads: reads / blocks };
  }
}

/**
 * Most store operations a block may cost at each hop, counted over a whole
 * order (its creation, emission, filling, streaming and acknowledgements).
 * Emission server: the serials (one insertMany), the block, the order's
 * progress; the order and the block's serial swaps (none: a miss) read before
 * the block is made, the progress and the block read when streamed.
 * Registrar and OMS: the block and the record's progress, one write each for
 * blocks that arrive together; the progress and the block read when streamed
 * on (OMS also serves a status watch and acknowledgements, one per 16 blocks).
 */
const BOUNDS: Record<Role, { writes: number; reads: number }> = {
  emission: { writes: 3.5, reads: 4.5 },
  registrar: { writes: 2.5, reads: 2.5 },
  oms: { writes: 2.5, reads: 4 },
};

/**
 * Most reads of a one-block order's record at the Registrar and OMS, from its
 * create to its last code at the line: the code stream above opening (the
 * record's owner) and its progress, and at OMS the status watch and the
 * acknowledgement. The fill reads none: it starts from the record its create
 * inserted (three reads more at each before: its lease, traceparent, cursor).
 */
const FRESH_FILL_READS = { registrar: 3, oms: 6 };

describe("store round trips of a block at each hop", () => {
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  /** Places and receives an order of `blocks` blocks of 10 codes, each role's store operations on `collections` counted. */
  async function countedOrder(
    open: OpenStore,
    collections: Record<Role, string[]>,
    blocks: number,
    settings: Record<string, string> = {},
  ): Promise<Record<Role, OperationCount>> {
    const counts: Record<Role, OperationCount> = {
      emission: new OperationCount(collections.emission),
      registrar: new OperationCount(collections.registrar),
      oms: new OperationCount(collections.oms),
    };
    // Heartbeats, resume scans and lease renewals are rare here: what is counted is what blocks cost.
    const env = {
      BLOCK_SIZE: "10",
      EMISSION_RATE: "1000000",
      STREAM_RECHECK_MS: "5000",
      INSTANCE_HEARTBEAT_MS: "10000",
      INSTANCE_DEAD_MS: "30000",
      WORK_LEASE_MS: "60000",
      ...settings,
    };
    const store = async (role: Role): Promise<Store> => counts[role].wrap(await open());
    const mesh = await meshOnStores(env, store);
    closing.push(() => mesh.close());
    const { apcs } = mesh;
    for (const c of Object.values(counts)) c.counting = true;
    const order = await apcs.placeOrder(milkOrder(blocks * 10));
    const saved = await apcs.receiveCodes(order.orderId);
    for (const c of Object.values(counts)) c.counting = false;
    expect(saved.storedBlocks).toBe(blocks);
    return counts;
  }

  onBothStores((open) => {
    it("stay within a small bound per block: bulk writes, one progress write, no read the hop does not need", async () => {
      const blocks = 48;
      const counts = await countedOrder(
        open,
        { emission: ["orders", "blocks", "serials", "serial_chunks"], registrar: ["pools", "blocks"], oms: ["orders", "blocks"] },
        blocks,
      );
      for (const role of ["emission", "registrar", "oms"] as const) {
        const per = counts[role].per(blocks);
        const seen = JSON.stringify(Object.fromEntries(counts[role].ops));
        expect(per.writes, `${role} writes per block: ${seen}`).toBeLessThanOrEqual(BOUNDS[role].writes);
        expect(per.reads, `${role} reads per block: ${seen}`).toBeLessThanOrEqual(BOUNDS[role].reads);
      }
    }, 60_000);

    it("a hop's fill starts from the record its create inserted: no read of it before the stream below opens", async () => {
      // One block: the record is read when the block is recorded, streamed on, watched and acknowledged, never to start the fill.
      const counts = await countedOrder(open, { emission: [], registrar: ["pools"], oms: ["orders"] }, 1);
      const reads = (role: Role) => [...counts[role].ops].filter(([k]) => READS.has(k.split(".")[1] ?? "")).reduce((n, [, c]) => n + c, 0);
      for (const role of ["registrar", "oms"] as const) {
        expect(reads(role), `${role}: ${JSON.stringify(Object.fromEntries(counts[role].ops))}`).toBeLessThanOrEqual(FRESH_FILL_READS[role]);
      }
    }, 60_000);

    it("a hop keeps the lease of a record it fills without reading it while its heartbeat is unbroken", async () => {
      // Emitted at 10 codes/s, the fill lasts about 4 s: with a heartbeat every 250 ms the lease is kept (before:
      // read) every 250 ms, 16 times or more; the record is still read to stream its blocks on (5 or 6 reads).
      const slow = { EMISSION_RATE: "10", INSTANCE_HEARTBEAT_MS: "250", INSTANCE_DEAD_MS: "2500", WORK_LEASE_MS: "6000" };
      const blocks = 4;
      const counts = await countedOrder(open, { emission: [], registrar: ["pools"], oms: [] }, blocks, slow);
      const reads = counts.registrar.ops.get("pools.findOne") ?? 0;
      expect(reads, JSON.stringify(Object.fromEntries(counts.registrar.ops))).toBeLessThanOrEqual(FRESH_FILL_READS.registrar + 2 * blocks);
    }, 60_000);

    it("a hop that creates a record fills it under the lease it was created with: no take fence", async () => {
      const counts = await countedOrder(open, { emission: ["take_fences"], registrar: ["take_fences"], oms: ["take_fences"] }, 4);
      for (const role of ["emission", "registrar", "oms"] as const) expect(Object.fromEntries(counts[role].ops), role).toEqual({});
    }, 60_000);
  });
});
