import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import { GS, formatCode, parseCode } from "../../src/domain/code-format.js";
import { PRODUCT_GROUP_RULES } from "../../src/domain/product-groups.js";
import { ProductGroup } from "../../src/gen/emission/common/v1/order_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { rejection } from "../support/rejection.js";
import { TOKENS } from "../support/test-config.js";

describe("OmsService.ListProductGroups", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
  });

  it("tells every product group's templates, serial and crypto tail lengths, from the domain rules", async () => {
    const { productGroups } = await createClient(OmsService, mesh.to("oms", TOKENS.apcs)).listProductGroups({});
    expect(productGroups.map((g) => [g.productGroup, g.name, g.templateIds, g.serialLength, g.cryptoTailLength, g.singleGtin])).toEqual(
      PRODUCT_GROUP_RULES.map((r) => [r.group, r.name, r.templateIds, r.serialLength, r.tailLength, r.singleGtin]),
    );
    const tobacco = productGroups.find((g) => g.productGroup === ProductGroup.TOBACCO);
    expect([tobacco?.name, tobacco?.templateIds, tobacco?.serialLength]).toEqual(["tobacco", [3, 4], 7]);
  });

  it("describes the code layout so that a code of the group can be built and parsed from it alone", async () => {
    const { productGroups } = await createClient(OmsService, mesh.to("oms", TOKENS.apcs)).listProductGroups({});
    const shoes = productGroups.find((g) => g.productGroup === ProductGroup.SHOES);
    const format = shoes?.codeFormat;
    expect(format?.layout).toBe("01 <GTIN: 14 digits> 21 <serial: 13> <GS> 91 <key id: 4> <GS> 92 <crypto tail: 88>");
    expect(format?.separator).toBe(GS);
    // A code assembled from the elements alone is one the mesh's parser accepts.
    const sample: Record<string, string> = { "01": "04600000000015" };
    const built = (format?.elements ?? [])
      .map((e) => `${e.ai}${sample[e.ai] ?? (format?.ai82Characters ?? "").slice(0, 1).repeat(e.length)}${e.separatorAfter ? GS : ""}`)
      .join("");
    const parsed = parseCode(built);
    expect(parsed.ok).toBe(true);
    expect(built).toBe(formatCode({ gtin: "04600000000015", serial: "!".repeat(13), keyId: "!!!!", tail: "!".repeat(88) }));
  });

  it("is read by the APCS client library", async () => {
    expect((await mesh.apcs.productGroups()).map((g) => g.name)).toEqual(PRODUCT_GROUP_RULES.map((r) => r.name));
  });

  it("answers operators too, without a request id, and refuses the roles below", async () => {
    const operator = createClient(OmsService, mesh.to("oms", TOKENS.admin));
    expect((await operator.listProductGroups({})).productGroups.length).toBe(PRODUCT_GROUP_RULES.length);
    // An operator may read the rules, not place or read orders.
    expect((await rejection(operator.getOrder({ orderId: "x" }))).code).toBe(Code.PermissionDenied);
    expect((await rejection(createClient(OmsService, mesh.to("oms", TOKENS.registrar)).listProductGroups({}))).code).toBe(
      Code.PermissionDenied,
    );
  });
});

describe("OmsService.CancelOrder request rules (oms.proto)", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
  });

  it.each([
    ["neither id", {}, "cancel-rules-1"],
    ["both ids", { orderId: "o", createRequestId: "r-12345678" }, "cancel-rules-2"],
  ])("refuses %s as INVALID_ARGUMENT naming order_id", async (_what, req, requestId) => {
    const oms = createClient(OmsService, mesh.to("oms", TOKENS.apcs));
    const err: ConnectError = await rejection(oms.cancelOrder(req, { headers: { "x-request-id": requestId } }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(fieldViolationsOf(err).map((v) => v.field)).toEqual(["order_id"]);
  });
});
