import { describe, expect, it } from "vitest";
import { BacklogShareError } from "../../src/domain/domain-errors.js";
import { checkBacklogShare } from "../../src/emission-server/backlog-share.js";
import { EmissionOrders } from "../../src/emission-server/emission-order-records.js";
import { type EmissionOrderDoc, openEmissionCollections } from "../../src/emission-server/emission-orders.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { onBothStores } from "../support/both-stores.js";

const LIMITS = { sharePercent: 50, freeCodes: 1_000, rate: 1_000 };

function order(id: string, participantId: string, totalCodes: number, emittedCodes = 0, status = OrderStatus.PENDING): EmissionOrderDoc {
  return {
    _id: id,
    leaseOwner: "",
    leaseUntil: 0,
    participantId,
    productionOrderId: id,
    productGroup: 1,
    releaseMethodType: 1,
    requestId: id,
    products: [],
    status,
    blockSize: 1_000,
    totalCodes,
    totalBlocks: Math.ceil(totalCodes / 1_000),
    emittedBlocks: 0,
    emittedCodes,
    readyAt: 0,
    createdAt: 0,
    updatedAt: 0,
  };
}

describe("checkBacklogShare", () => {
  onBothStores((open) => {
    it("refuses a participant beyond its share of the codes waiting, with a retry hint, and lets the others in", async () => {
      const db = await openEmissionCollections(await open());
      await db.orders.insertOne(order("a1", "A", 5_000));
      await db.orders.insertOne(order("b1", "B", 2_000, 1_000));
      await db.orders.insertOne(order("a-done", "A", 90_000, 90_000, OrderStatus.READY));
      const err = await checkBacklogShare(new EmissionOrders(db.orders), { participantId: "A", orderId: "a2", codes: 1_000 }, LIMITS).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BacklogShareError);
      // 6 000 of 7 000 against 3 500 allowed: 2 500 codes to drain at half of 1 000 codes/s.
      expect((err as BacklogShareError).share).toEqual({ held: 5_000, backlog: 6_000, sharePercent: 50, retryAfterMs: 5_000 });
      await checkBacklogShare(new EmissionOrders(db.orders), { participantId: "B", orderId: "b2", codes: 2_000 }, LIMITS);
      // A participant with nothing waiting always gets an order in, and a retry does not count against itself.
      await checkBacklogShare(new EmissionOrders(db.orders), { participantId: "C", orderId: "c1", codes: 50_000 }, LIMITS);
      await checkBacklogShare(new EmissionOrders(db.orders), { participantId: "A", orderId: "a1", codes: 5_000 }, LIMITS);
    });

    it("refuses nobody while the backlog is within the free allowance", async () => {
      const db = await openEmissionCollections(await open());
      await db.orders.insertOne(order("a1", "A", 500));
      await checkBacklogShare(new EmissionOrders(db.orders), { participantId: "A", orderId: "a2", codes: 500 }, LIMITS);
      await expect(
        checkBacklogShare(new EmissionOrders(db.orders), { participantId: "A", orderId: "a2", codes: 501 }, LIMITS),
      ).rejects.toBeInstanceOf(BacklogShareError);
    });
  });
});
