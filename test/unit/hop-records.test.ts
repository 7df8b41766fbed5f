import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { encodeBlock } from "../../src/core/codes/encoded-block.js";
import { newHopRecord } from "../../src/core/hop/index.js";
import { OrderNotFoundError, OrderStateError } from "../../src/domain/domain-errors.js";
import { CodeBlockSchema, ReadinessSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { CancelMarks, OmsOrders, type OrderDoc } from "../../src/oms/orders.js";
import { openPools, type PoolDoc } from "../../src/registrar/pools.js";
import { onBothStores } from "../support/both-stores.js";

const placed = { participantId: "p1", productionOrderId: "po-1", requestId: "r1" };
const readiness = create(ReadinessSchema, { totalCodes: 30n, totalBlocks: 3 });

async function ids(docs: Promise<{ _id: string }[]>): Promise<string[]> {
  return (await docs).map((d) => d._id);
}

function pool(id: string): PoolDoc {
  return { ...newHopRecord({ orderId: id, readiness }, placed, Date.now()), status: PoolStatus.REQUESTED, pooledBlocks: 0, pooledCodes: 0 };
}

function order(id: string): OrderDoc {
  return {
    ...newHopRecord({ orderId: id, readiness }, placed, Date.now()),
    productGroup: 1,
    status: OrderStatus.APPROVED,
    bufferStatus: BufferStatus.PENDING,
    receivedBlocks: 0,
    receivedCodes: 0,
    deliveredBlocks: 0,
    deliveredCodes: 0,
  };
}

const block = (orderId: string, seq: number, last = false) =>
  encodeBlock(create(CodeBlockSchema, { orderId, seq, codes: Array.from({ length: 10 }, (_, i) => `c${seq}-${i}`), last }));

describe("HopRecords (the Registrar's pools)", () => {
  onBothStores((open) => {
    it("advances by the next block only, counting its codes, and is READY after the last", async () => {
      const pools = await openPools(await open());
      await pools.insertOrLoad(pool("a"));
      await pools.advance(block("a", 2)); // not the next one: nothing changes
      expect((await pools.load("a")).pooledBlocks).toBe(0);
      await pools.advance(block("a", 1));
      await pools.advance(block("a", 1)); // the same step twice changes nothing
      expect(await pools.load("a")).toMatchObject({ pooledBlocks: 1, pooledCodes: 10, status: PoolStatus.IN_PROCESS });
      await pools.advance(block("a", 2));
      await pools.advance(block("a", 3, true));
      expect(await pools.load("a")).toMatchObject({ pooledBlocks: 3, pooledCodes: 30, status: PoolStatus.READY });
      expect(await pools.cursorOf("a")).toBe(3);
      expect(await ids(pools.filling())).toEqual([]);
    });

    it("advances through several blocks stored together with one write, by the count it is given, from the next block only", async () => {
      const pools = await openPools(await open());
      await pools.insertOrLoad(pool("m"));
      await pools.advanceThrough([block("m", 2), block("m", 3)], 30); // not from the next block: nothing changes
      expect((await pools.load("m")).pooledBlocks).toBe(0);
      await pools.advanceThrough([block("m", 1), block("m", 2)], 20);
      await pools.advanceThrough([block("m", 1), block("m", 2)], 20); // the same step twice changes nothing
      expect(await pools.progressOf("m")).toEqual({ blocks: 2, codes: 20 });
      expect((await pools.load("m")).status).toBe(PoolStatus.IN_PROCESS);
      await pools.advanceThrough([block("m", 3, true)], 30);
      expect(await pools.load("m")).toMatchObject({ pooledBlocks: 3, pooledCodes: 30, status: PoolStatus.READY });
    });

    it("closes an open pool once, leaving the close pending, and refuses to cancel it afterwards", async () => {
      const pools = await openPools(await open());
      await pools.insertOrLoad(pool("b"));
      const closed = await pools.end("b", "close", "req-close");
      expect(closed).toMatchObject({ status: PoolStatus.CLOSED, pending: "close", pendingRequestId: "req-close" });
      expect((await pools.end("b", "close", "req-close")).status).toBe(PoolStatus.CLOSED);
      await expect(pools.end("b", "cancel", "req-cancel", { deliveredThrough: 1 })).rejects.toThrow(OrderStateError);
      await expect(pools.end("b", "cancel", "req-cancel")).rejects.toThrow("the pool can no longer be cancelled");
      expect((await pools.load("b")).deliveredThrough).toBeUndefined();
      // A closed pool takes no more blocks.
      await pools.advance(block("b", 1));
      expect((await pools.load("b")).pooledBlocks).toBe(0);
      expect((await pools.withPendingEnd()).map((p) => p._id)).toEqual(["b"]);
      await pools.clearPending("b", "close");
      expect(await pools.withPendingEnd()).toEqual([]);
      expect((await pools.load("b")).pending).toBeUndefined();
    });

    it("fails only a pool still filling, and a failed pool can still be cancelled", async () => {
      const pools = await openPools(await open());
      await pools.insertOrLoad(pool("c"));
      await pools.insertOrLoad(pool("d"));
      expect((await ids(pools.filling())).sort()).toEqual(["c", "d"]);
      expect((await pools.fail("c"))?.status).toBe(PoolStatus.REJECTED);
      expect(await pools.fail("c")).toBeUndefined();
      expect(await ids(pools.filling())).toEqual(["d"]);
      const cancelled = await pools.end("c", "cancel", "req", { deliveredThrough: 0 });
      expect(cancelled).toMatchObject({ status: PoolStatus.CANCELLED, pending: "cancel", deliveredThrough: 0 });
      await pools.end("d", "close", "req");
      expect(await pools.fail("d")).toBeUndefined();
      await expect(pools.load("missing")).rejects.toThrow(OrderNotFoundError);
    });
  });
});

describe("OmsOrders", () => {
  onBothStores((open) => {
    it("shows an order to its participant only, and finds it by the request that placed it", async () => {
      const orders = await OmsOrders.open(await open());
      await orders.insertOrLoad(order("o1"));
      expect((await orders.load("o1", "p1"))._id).toBe("o1");
      await expect(orders.load("o1", "p2")).rejects.toThrow(OrderNotFoundError);
      expect((await orders.placedBy("p1", "r1"))?._id).toBe("o1");
      expect(await orders.placedBy("p2", "r1")).toBeUndefined();
    });

    it("moves the delivered cursor only from where the caller read it, EXHAUSTED at the last block", async () => {
      const orders = await OmsOrders.open(await open());
      await orders.insertOrLoad(order("o2"));
      for (const seq of [1, 2, 3]) await orders.advance(block("o2", seq, seq === 3));
      const read = await orders.load("o2");
      expect(read).toMatchObject({ status: OrderStatus.READY, bufferStatus: BufferStatus.ACTIVE, receivedCodes: 30 });
      expect((await orders.markDelivered(read, 2, 20))?.deliveredBlocks).toBe(2);
      expect(await orders.markDelivered(read, 3, 30)).toBeUndefined(); // read before the first ack: refused
      const done = await orders.markDelivered(await orders.load("o2"), 3, 10);
      expect(done).toMatchObject({ deliveredBlocks: 3, deliveredCodes: 30, bufferStatus: BufferStatus.EXHAUSTED });
      const cancelled = await orders.end("o2", "cancel", "req");
      expect(cancelled).toMatchObject({ status: OrderStatus.CANCELLED, bufferStatus: BufferStatus.CANCELLED });
      expect(await orders.markDelivered(cancelled, 3, 0)).toBeUndefined();
      await expect(orders.end("o2", "close", "req")).rejects.toThrow("it can no longer be closed");
    });

    it("keeps a cancel's mark of a CreateOrder request id, per participant", async () => {
      const marks = await CancelMarks.open(await open(), { retentionMs: 60_000, maxPerCaller: 2 });
      await marks.mark("p1", "create-1");
      await marks.mark("p1", "create-1");
      expect(await marks.named("p1", "create-1")).toBe(true);
      expect(await marks.named("p2", "create-1")).toBe(false);
    });

    it("refuses a participant's new cancel mark past its cap, and forgets marks past their retention", async () => {
      const marks = await CancelMarks.open(await open(), { retentionMs: 1_000, maxPerCaller: 2 });
      const t0 = Date.now();
      await marks.mark("p1", "a", t0);
      await marks.mark("p1", "b", t0);
      await expect(marks.mark("p1", "c", t0)).rejects.toThrow("too many cancel marks");
      await marks.mark("p1", "b", t0); // the same mark again takes nothing new
      await marks.mark("p2", "c", t0); // another participant has its own cap
      expect(await marks.named("p1", "a", t0 + 2_000)).toBe(false);
      await marks.sweepExpired(t0 + 2_000);
      await marks.mark("p1", "c", t0 + 2_000);
      expect(await marks.named("p1", "c", t0 + 2_000)).toBe(true);
    });
  });
});
