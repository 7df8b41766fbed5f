import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { milkOrder, selfMadeSerials } from "../support/orders.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { rejection } from "../support/rejection.js";
import { TOKENS } from "../support/test-config.js";

describe("request limits where a request enters a role (contract interceptor, message-limits)", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
  });

  it("refuses ids over their contract length, in unary calls and server streams alike, naming the field", async () => {
    const oms = mesh.omsClient();
    const long = "o".repeat(65);
    for (const call of [
      oms.getOrder({ orderId: long }),
      (async () => {
        for await (const _ of oms.streamCodes({ orderId: long })) break;
      })(),
    ]) {
      const err = await rejection(call);
      expect([err.code, fieldViolationsOf(err).map((v) => v.field)]).toEqual([Code.InvalidArgument, ["order_id"]]);
    }
    const journal = createClient(JournalService, mesh.to("oms", TOKENS.admin));
    const err = await rejection(journal.listJournal({ step: "s".repeat(17) }));
    expect([err.code, fieldViolationsOf(err).map((v) => v.field)]).toEqual([Code.InvalidArgument, ["step"]]);
  });

  it("refuses a request over its method's read limit with RESOURCE_EXHAUSTED, and takes a large order", async () => {
    const err = await rejection(mesh.omsClient().getOrder({ orderId: "o".repeat(70 * 1024) }));
    expect(err.code).toBe(Code.ResourceExhausted);
    const oms = createClient(OmsService, mesh.to("oms", TOKENS.apcs));
    expect(
      (await rejection(oms.closeOrder({ orderId: "o".repeat(70 * 1024) }, { headers: { "x-request-id": "close-huge-1" } }))).code,
    ).toBe(Code.ResourceExhausted);
    // 20 000 serials are about 300 KB: over the default limit, well within an order's, at every hop.
    const spec = milkOrder(20_000);
    spec.products = [{ ...spec.products![0], serialNumberType: SerialNumberType.SELF_MADE, serialNumbers: selfMadeSerials(20_000) }];
    expect((await mesh.apcs.placeOrder(spec)).status).toBe(OrderStatus.APPROVED);
  });
});
