import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { bearer, inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { TOKENS } from "../support/test-config.js";

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("authentication, roles and request ids at the RPC boundary", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
  });

  it("refuses a call without a bearer token, or with an unknown one, as UNAUTHENTICATED", async () => {
    const none = createClient(OmsService, inMemoryTransport(mesh.oms.spec));
    expect(await codeOf(none.getOrder({ orderId: "x" }))).toBe(Code.Unauthenticated);
    const unknown = createClient(OmsService, inMemoryTransport(mesh.oms.spec, bearer("forged")));
    expect(await codeOf(unknown.getOrder({ orderId: "x" }))).toBe(Code.Unauthenticated);
  });

  it("lets each role call only the role meant for it (PERMISSION_DENIED otherwise)", async () => {
    expect(await codeOf(createClient(OmsService, mesh.to("oms", TOKENS.registrar)).getOrder({ orderId: "x" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(createClient(RegistrarService, mesh.to("registrar", TOKENS.apcs)).getPool({ orderId: "x" }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(createClient(EmitterService, mesh.to("emission", TOKENS.oms)).getEmissionOrder({ orderId: "x" }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(createClient(EmitterService, mesh.to("emission", TOKENS.registrar)).getEmissionOrder({ orderId: "x" }))).toBe(
      Code.NotFound,
    );
  });

  it("needs a well-formed x-request-id on state-changing calls only", async () => {
    const oms = mesh.omsClient();
    expect(await codeOf(oms.createOrder({ order: milkOrder(1) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(oms.createOrder({ order: milkOrder(1) }, { headers: { "x-request-id": "bad id!" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(oms.getOrder({ orderId: "x" }))).toBe(Code.NotFound);
  });

  it("answers an unknown method with UNIMPLEMENTED", async () => {
    const journalAtOms = createClient(RegistrarService, mesh.to("oms", TOKENS.apcs));
    expect(await codeOf(journalAtOms.getPool({ orderId: "x" }))).toBe(Code.Unimplemented);
  });
});
