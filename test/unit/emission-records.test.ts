import { describe, expect, it } from "vitest";
import { OrderNotFoundError } from "../../src/domain/domain-errors.js";
import { type EmissionOrderDoc, serialKey, serialKeys } from "../../src/emission-server/emission-orders.js";
import { openEmissionRecords } from "../../src/emission-server/emission-records.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { onBothStores } from "../support/both-stores.js";

function emissionOrder(id: string, createdAt: number): EmissionOrderDoc {
  return {
    _id: id,
    leaseOwner: "",
    leaseUntil: 0,
    participantId: "p1",
    productionOrderId: "po",
    productGroup: 1,
    releaseMethodType: 1,
    requestId: `r-${id}`,
    products: [{ gtin: "04600000000008", quantity: 20, serialNumberType: 2, templateId: 1, cisType: 1, firstBlock: 1, blocks: 2 }],
    status: OrderStatus.PENDING,
    blockSize: 10,
    totalCodes: 20,
    totalBlocks: 2,
    emittedBlocks: 0,
    emittedCodes: 0,
    readyAt: createdAt,
    createdAt,
    updatedAt: createdAt,
  };
}

describe("EmissionOrders", () => {
  onBothStores((open) => {
    it("records the next block only, READY after the last, and nothing once the order is closed", async () => {
      const { orders } = await openEmissionRecords(await open());
      await orders.insertOrLoad(emissionOrder("b", 2));
      await orders.insertOrLoad(emissionOrder("a", 1));
      expect((await orders.pendingOldestFirst()).map((o) => o._id)).toEqual(["a", "b"]);
      const a = await orders.load("a");
      expect(await orders.recordBlock(a, 2, 10)).toBeUndefined();
      expect(await orders.recordBlock(a, 1, 10)).toMatchObject({ emittedBlocks: 1, emittedCodes: 10, status: OrderStatus.PENDING });
      expect(await orders.recordBlock(a, 1, 10)).toBeUndefined(); // applied twice: once
      expect(await orders.recordBlock(await orders.load("a"), 2, 10)).toMatchObject({ emittedCodes: 20, status: OrderStatus.READY });
      expect((await orders.close("b"))?.status).toBe(OrderStatus.CLOSED);
      expect(await orders.recordBlock(await orders.load("b"), 1, 10)).toBeUndefined();
      await expect(orders.load("")).rejects.toThrow(OrderNotFoundError);
    });

    it("cancels or closes an active order only", async () => {
      const { orders } = await openEmissionRecords(await open());
      await orders.insertOrLoad(emissionOrder("c", 1));
      expect(await orders.cancel("c", 1)).toMatchObject({ status: OrderStatus.CANCELLED, voidedAfterBlock: 1 });
      expect(await orders.cancel("c", 2)).toBeUndefined();
      expect(await orders.close("c")).toBeUndefined();
      expect((await orders.load("c")).voidedAfterBlock).toBe(1);
    });
  });
});

describe("SerialRegistry and ActiveSlots", () => {
  onBothStores((open) => {
    it("swaps a chunk's serials only from the revision read, and reports serials taken before", async () => {
      const { serials } = await openEmissionRecords(await open());
      const chunk = await serials.fixChunk({ _id: "o/0/0", serials: ["s1", "s2"], rev: 0 });
      expect((await serials.fixChunk({ _id: "o/0/0", serials: ["x"], rev: 0 })).serials).toEqual(["s1", "s2"]);
      expect((await serials.swapChunk(chunk, ["s1", "s3"]))?.rev).toBe(1);
      expect(await serials.swapChunk(chunk, ["s1", "s4"])).toBeUndefined();
      expect((await serials.chunk("o/0/0"))?.serials).toEqual(["s1", "s3"]);
      const doc = (s: string) => ({ _id: `g/${s}`, orderId: "o", product: 0, chunk: 0 });
      expect(await serials.take([doc("s1"), doc("s3")])).toEqual([]);
      expect(await serials.take([doc("s5"), doc("s3")])).toEqual([1]);
      expect((await serials.holder("g", "s3"))?.orderId).toBe("o");
      expect((await serials.holders(["g/s1", "g/s9"])).map((h) => h._id)).toEqual(["g/s1"]);
      await serials.release("o");
      expect(await serials.holder("g", "s1")).toBeUndefined();
    });

    it("counts a participant's active orders, a retry's own slot once", async () => {
      const { slots } = await openEmissionRecords(await open());
      expect(await slots.take({ _id: "o1", participantId: "p1" })).toBe(1);
      expect(await slots.take({ _id: "o1", participantId: "p1" })).toBe(1);
      expect(await slots.take({ _id: "o2", participantId: "p1" })).toBe(2);
      await slots.giveBack("o1");
      expect(await slots.take({ _id: "o3", participantId: "p1" })).toBe(2);
    });

    it("keeps a create's intent in its slot until the order is settled, and finds the unsettled ones by age", async () => {
      const { slots } = await openEmissionRecords(await open());
      await slots.take({ _id: "o1", participantId: "p1", claim: "k1", chunks: ["o1/0/0"], createdAt: 100 });
      await slots.take({ _id: "o2", participantId: "p1", claim: "k2", chunks: [], createdAt: 300 });
      expect((await slots.unsettledBefore(200)).map((s) => [s._id, s.claim, s.chunks])).toEqual([["o1", "k1", ["o1/0/0"]]]);
      await slots.settle("o1");
      expect(await slots.unsettledBefore(1_000)).toEqual([expect.objectContaining({ _id: "o2" })]);
      // Settled, the slot still counts.
      expect(await slots.take({ _id: "o3", participantId: "p1" })).toBe(3);
    });
  });
});

describe("serialKeys", () => {
  it("gives each serial's registry key, as serialKey does, whatever the serials' lengths", () => {
    const serials = ["abc", "X", "0123456789ABCDEFGHIJ", "", "/"];
    expect(serialKeys("04600000000008", serials)).toEqual(serials.map((s) => serialKey("04600000000008", s)));
    expect(serialKeys("04600000000008", [])).toEqual([]);
  });
});
