import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType, type OrderSpec } from "../../src/gen/emission/common/v1/order_pb.js";
import { CreateEmissionOrderRequestSchema, EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { CreateOrderRequestSchema, OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { DEFAULT_MESSAGE_BYTES, ORDER_MESSAGE_BYTES, readLimitOf } from "../../src/core/rpc/message-limits.js";

/** The largest order the contract allows: 10 SELF_MADE products × 150 000 serials of 20 characters. */
function largestOrder(): OrderSpec {
  const products = Array.from({ length: 10 }, (_, p) => ({
    gtin: `0460000000${String(p).padStart(4, "0")}`,
    quantity: 150_000,
    serialNumberType: SerialNumberType.SELF_MADE,
    serialNumbers: Array.from({ length: 150_000 }, (_, i) => `${p}`.padEnd(20 - String(i).length, "x") + String(i)),
    templateId: 4_294_967_295,
    cisType: CisType.GROUP,
  }));
  // 128 characters of 4 bytes each in UTF-8: the longest production order id.
  return create(CreateOrderRequestSchema, {
    order: {
      productGroup: ProductGroup.WATER,
      releaseMethodType: ReleaseMethodType.CROSSBORDER,
      productionOrderId: "\u{1F600}".repeat(128),
      products,
    },
  }).order!;
}

describe("readLimitOf", () => {
  it("holds the largest legitimate order at every hop, and keeps every other request small", () => {
    const order = largestOrder();
    const participantId = "p".repeat(64);
    // CreatePool has the same two fields as CreateEmissionOrder; CreateOrder has no participant id.
    const size = toBinary(CreateEmissionOrderRequestSchema, create(CreateEmissionOrderRequestSchema, { participantId, order })).length;
    expect(size).toBeLessThanOrEqual(ORDER_MESSAGE_BYTES);
    // The figure message-limits.ts and the README state.
    expect(size).toBe(33_000_940);
    for (const m of [OmsService.method.createOrder, RegistrarService.method.createPool, EmitterService.method.createEmissionOrder]) {
      expect(readLimitOf(m)).toBe(ORDER_MESSAGE_BYTES);
    }
    expect([OmsService.method.getOrder, OmsService.method.cancelOrder, EmitterService.method.verifyCode].map(readLimitOf)).toEqual([
      DEFAULT_MESSAGE_BYTES,
      DEFAULT_MESSAGE_BYTES,
      DEFAULT_MESSAGE_BYTES,
    ]);
  });
});
