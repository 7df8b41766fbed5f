import { afterEach, describe, expect, it } from "vitest";
import type { Collection, CollectionOptions, Doc, IndexSpec, Store } from "../../src/store/store.js";
import { onBothStores } from "../support/both-stores.js";
import { meshOnStores } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

type Role = "emission" | "registrar" | "oms";

/**
 * What a role's CreateOrder does with its store (the stored-reply claim and
 * reply, cancel marks, the active-order limit, the backlog, the intent, the
 * record), as opposed to the background work it starts (emitting, filling):
 * "collection" or "collection.operation".
 */
const CREATE_PATH: Record<Role, readonly string[]> = {
  emission: ["replies", "active_slots", "order_intents", "orders.find", "orders.insertOne", "orders.count"],
  registrar: ["replies", "pools.insertOne"],
  oms: ["replies", "cancel_marks", "orders.insertOne"],
};

/**
 * A store that answers in rounds, as a database a round trip away does: the
 * operations asked for meanwhile are held, then all go on together once the
 * role has nothing left to do but wait. A role waiting on several at once
 * spends one round; one after another, one round each.
 */
class RoundStore implements Store {
  private held: (() => void)[] = [];
  private path = 0;
  /** Rounds that carried an operation of the create path, while counting, and those operations. */
  rounds = 0;
  readonly seen: string[] = [];
  counting = false;

  constructor(
    private readonly inner: Store,
    private readonly onPath: readonly string[],
  ) {}

  async collection<T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions): Promise<Collection<T>> {
    const c = await this.inner.collection<T>(name, indexes, options);
    const round =
      <A extends unknown[], R>(op: string, f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const onPath = this.onPath.includes(name) || this.onPath.includes(`${name}.${op}`);
        if (onPath && this.counting) this.seen.push(`${name}.${op}`);
        await this.wait(onPath);
        return f(...args);
      };
    return {
      insertOne: round("insertOne", c.insertOne.bind(c)),
      insertMany: round("insertMany", c.insertMany.bind(c)),
      insertInOrder: round("insertInOrder", c.insertInOrder.bind(c)),
      findOne: round("findOne", c.findOne.bind(c)),
      find: round("find", c.find.bind(c)),
      count: round("count", c.count.bind(c)),
      updateOne: round("updateOne", c.updateOne.bind(c)),
      deleteMany: round("deleteMany", c.deleteMany.bind(c)),
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private wait(onPath: boolean): Promise<void> {
    if (onPath) this.path++;
    const go = new Promise<void>((resolve) => this.held.push(resolve));
    if (this.held.length === 1) setImmediate(() => this.flush());
    return go;
  }

  private flush(): void {
    if (this.counting && this.path > 0) this.rounds++;
    this.path = 0;
    for (const go of this.held.splice(0)) go();
  }
}

/**
 * Most store round trips one CreateOrder makes at each hop before the line
 * has its reply, its claim included; the stored reply is written while the
 * reply goes out. Emission server: the claim; the slot, carrying the intent;
 * its count; the backlog, only when the participant has other active
 * orders; the order; the slot's intent cleared (with the reply's outcome).
 * Registrar: the claim, the pool. OMS: the claim, the cancel mark, the
 * order, the cancel mark again (a cancel meanwhile wins).
 */
const BOUNDS: Record<Role, number> = { emission: 5, registrar: 2, oms: 4 };
const BACKLOG_READ = 1;

describe("store round trips of one CreateOrder at each hop", () => {
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  onBothStores((open) => {
    it("stay within a small bound: independent reads and writes go to the store at once, no read it does not need (the backlog only behind another order)", async () => {
      const env = {
        BLOCK_SIZE: "10",
        EMISSION_RATE: "1000000",
        INSTANCE_HEARTBEAT_MS: "10000",
        INSTANCE_DEAD_MS: "30000",
        WORK_LEASE_MS: "60000",
      };
      const stores = {} as Record<Role, RoundStore>;
      const store = async (role: Role): Promise<Store> => {
        stores[role] = new RoundStore(await open(), CREATE_PATH[role]);
        return stores[role];
      };
      const mesh = await meshOnStores(env, store);
      closing.push(() => mesh.close());
      const { apcs } = mesh;

      const measured = async (): Promise<Record<Role, number>> => {
        for (const s of Object.values(stores)) {
          s.rounds = 0;
          s.seen.length = 0;
          s.counting = true;
        }
        await apcs.placeOrder(milkOrder(10));
        for (const s of Object.values(stores)) s.counting = false;
        return { emission: stores.emission.rounds, registrar: stores.registrar.rounds, oms: stores.oms.rounds };
      };
      // The first order counts each caller's stored replies (a quota check); the next ones are measured.
      await apcs.closeOrder((await apcs.placeOrder(milkOrder(10))).orderId);
      const alone = await measured();
      // A participant without other active orders holds no backlog: the orders are not scanned for it.
      expect(stores.emission.seen).not.toContain("orders.find");
      const behindAnother = await measured();
      expect(stores.emission.seen).toContain("orders.find");
      for (const role of ["emission", "registrar", "oms"] as const) {
        expect(alone[role], `${role}, no other active order: ${JSON.stringify(alone)}`).toBeLessThanOrEqual(BOUNDS[role]);
        const bound = BOUNDS[role] + (role === "emission" ? BACKLOG_READ : 0);
        expect(behindAnother[role], `${role}, another active order: ${JSON.stringify(behindAnother)}`).toBeLessThanOrEqual(bound);
      }
    }, 60_000);
  });
});
