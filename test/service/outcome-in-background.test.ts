import { afterEach, describe, expect, it } from "vitest";
import { REPLAY_HEADER } from "../../src/core/iotp/idempotency-interceptor.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection, CollectionOptions, Doc, IndexSpec, Store } from "../../src/store/store.js";
import { type InMemoryMesh, meshOnStores } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

/** A store whose stored-reply outcomes are written only once `release()` is called. */
class HeldOutcomes implements Store {
  private readonly inner = new MemoryStore();
  private readonly waiting: (() => void)[] = [];
  private held = true;
  heldWrites = 0;

  async collection<T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], _options?: CollectionOptions): Promise<Collection<T>> {
    const c = await this.inner.collection<T>(name, indexes);
    if (name !== "reply_outcomes") return c;
    const insertOne = async (doc: T): Promise<void> => {
      if (this.held) {
        this.heldWrites++;
        await new Promise<void>((go) => this.waiting.push(go));
      }
      return c.insertOne(doc);
    };
    return new Proxy(c, { get: (target, prop, receiver) => (prop === "insertOne" ? insertOne : Reflect.get(target, prop, receiver)) });
  }

  release(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | "timed out"> =>
  Promise.race([p, new Promise<"timed out">((resolve) => setTimeout(() => resolve("timed out"), ms))]);

describe("a success's stored reply", () => {
  let mesh: InMemoryMesh | undefined;
  const stores: HeldOutcomes[] = [];
  afterEach(async () => {
    for (const s of stores) s.release();
    await mesh?.close();
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it("is written while the reply goes out: CreateOrder is answered with every hop's outcome still unwritten, and a duplicate meanwhile gets it once written, with one order at every hop", async () => {
    mesh = await meshOnStores({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000" }, async () => {
      const s = new HeldOutcomes();
      stores.push(s);
      return s;
    });
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "outcome-later-0001" };
    const order = milkOrder(50);
    const first = await within(oms.createOrder({ order }, { headers }), 5_000);
    expect(first).not.toBe("timed out");
    expect(stores.map((s) => s.heldWrites)).toEqual([1, 1, 1]);

    const replayed: (string | null)[] = [];
    const again = oms.createOrder({ order }, { headers, onHeader: (h) => replayed.push(h.get(REPLAY_HEADER)) });
    expect(await within(again, 200)).toBe("timed out"); // waits for the original's outcome
    for (const s of stores) s.release();
    expect((await again).order?.orderId).toBe(first === "timed out" ? "" : first.order?.orderId);
    expect(replayed).toEqual(["true"]);
    expect([await mesh.count("oms", "orders"), await mesh.count("registrar", "pools"), await mesh.count("emission", "orders")]).toEqual([
      1, 1, 1,
    ]);
  });
});
