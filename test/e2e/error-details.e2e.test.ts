import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateOrderRequestSchema, GetOrderRequestSchema, OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { ErrorInfoSchema, type ErrorInfo } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { grpcJsCall } from "../support/grpc-js-client.js";
import { grpcurl } from "../support/grpcurl.js";
import { milkOrder } from "../support/orders.js";
import { startMesh, startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

/** The ErrorInfo of the google.rpc.Status a grpc-js client received in grpc-status-details-bin. */
function errorInfoOf(err: grpc.ServiceError | undefined): ErrorInfo | undefined {
  const bin = err?.metadata.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Buffer)) return undefined;
  const status = fromBinary(StatusSchema, bin);
  expect(status.code).toBe(err?.code);
  return status.details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((d) => d !== undefined);
}

const auth = { authorization: `Bearer ${TOKENS.apcs}` };
const order = (n: number) => create(CreateOrderRequestSchema, { order: milkOrder(n) });

describe("error details seen by a @grpc/grpc-js client", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  let client: grpc.Client;
  beforeAll(async () => {
    mesh = await startMesh();
    client = new grpc.Client(mesh.oms.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await mesh?.stop();
  });

  it("names the auth step and the reason of UNAUTHENTICATED and PERMISSION_DENIED", async () => {
    const missing = await grpcJsCall(client, OmsService.method.getOrder, create(GetOrderRequestSchema, { orderId: "x" }), {});
    expect(missing.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(errorInfoOf(missing.error)).toMatchObject({ reason: "TOKEN_MISSING", domain: "emission-mesh", metadata: { step: "auth" } });
    const unknown = await grpcJsCall(client, OmsService.method.getOrder, create(GetOrderRequestSchema, { orderId: "x" }), {
      authorization: "Bearer nobody",
    });
    expect(errorInfoOf(unknown.error)).toMatchObject({ reason: "TOKEN_UNKNOWN", metadata: { step: "auth" } });
    const denied = await grpcJsCall(client, OmsService.method.getOrder, create(GetOrderRequestSchema, { orderId: "x" }), {
      authorization: `Bearer ${TOKENS.registrar}`,
    });
    expect(denied.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(errorInfoOf(denied.error)).toMatchObject({
      reason: "ROLE_NOT_ALLOWED",
      metadata: { step: "auth", role: "registrar", method: "emission.oms.v1.OmsService/GetOrder" },
    });
  });

  it("names an unknown order and a missing or malformed x-request-id", async () => {
    const unknown = await grpcJsCall(client, OmsService.method.getOrder, create(GetOrderRequestSchema, { orderId: "no-such-order" }), auth);
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(errorInfoOf(unknown.error)).toMatchObject({ reason: "ORDER_NOT_FOUND", metadata: { orderId: "no-such-order" } });
    const missing = await grpcJsCall(client, OmsService.method.createOrder, order(5), auth);
    expect(missing.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(missing.error)?.reason).toBe("REQUEST_ID_MISSING");
    const malformed = await grpcJsCall(client, OmsService.method.createOrder, order(5), { ...auth, "x-request-id": "bad id!" });
    expect(malformed.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(malformed.error)?.reason).toBe("REQUEST_ID_MALFORMED");
  });

  it("marks replays in the trailing metadata, of successes and errors alike", async () => {
    const headers = { ...auth, "x-request-id": "details-replay-0001" };
    const request = order(5);
    const first = await grpcJsCall(client, OmsService.method.createOrder, request, headers);
    expect(first.error).toBeUndefined();
    expect(first.trailer.get("x-idempotent-replay")).toEqual([]);
    const again = await grpcJsCall(client, OmsService.method.createOrder, request, headers);
    expect(again.message?.order?.orderId).toBe(first.message?.order?.orderId);
    expect(again.trailer.get("x-idempotent-replay")).toEqual(["true"]);
    expect(again.header.get("x-idempotent-replay")).toEqual(["true"]);

    const bad = milkOrder(5);
    bad.products![0]!.gtin = "04600000000016"; // wrong check digit
    const failedHeaders = { ...auth, "x-request-id": "details-replay-0002" };
    const failed = await grpcJsCall(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: bad }), failedHeaders);
    expect(failed.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failed.trailer.get("x-idempotent-replay")).toEqual([]);
    const replayed = await grpcJsCall(
      client,
      OmsService.method.createOrder,
      create(CreateOrderRequestSchema, { order: bad }),
      failedHeaders,
    );
    expect(replayed.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(replayed.trailer.get("x-idempotent-replay")).toEqual(["true"]);
    expect(errorInfoOf(replayed.error)).toEqual(errorInfoOf(failed.error));
  });

  it("gives the errors connect raises itself (unknown method, unparsable message) a Status with an ErrorInfo too", async () => {
    const raw = (path: string, body: Buffer) =>
      new Promise<grpc.ServiceError | undefined>((resolve) => {
        const metadata = new grpc.Metadata();
        metadata.set("authorization", auth.authorization);
        client.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          metadata,
          (err) => resolve(err ?? undefined),
        );
      });
    const unknown = await raw("/emission.oms.v1.OmsService/NoSuchMethod", Buffer.alloc(0));
    expect(unknown?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(errorInfoOf(unknown)).toMatchObject({ reason: "UNIMPLEMENTED", domain: "emission-mesh" });
    const garbage = await raw("/emission.oms.v1.OmsService/GetOrder", Buffer.from([0xff, 0xff, 0xff]));
    expect(garbage?.code).toBe(grpc.status.INTERNAL); // as grpc-go answers a request it cannot unmarshal
    expect(errorInfoOf(garbage)?.reason).toBe("INTERNAL");
  });

  it("serves health and reflection to grpcurl whatever x-request-id it passes along", async () => {
    const h = ["-H", "x-request-id: not a request id!"];
    expect(JSON.parse(await grpcurl(...h, mesh.oms.address, "grpc.health.v1.Health/Check"))).toEqual({ status: "SERVING" });
    expect(await grpcurl(...h, mesh.oms.address, "list")).toContain("emission.oms.v1.OmsService");
  });
});

describe("error details of transient refusals seen by a @grpc/grpc-js client", () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let oms: RoleProcess;
  beforeAll(async () => {
    // A Registrar that accepts connections and never answers: OMS's CreateOrder stays in progress.
    silent = createServer((s) => {
      sockets.add(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    oms = await startRole("oms", {
      REGISTRAR_ADDR: `127.0.0.1:${port}`,
      CALL_TIMEOUT_MS: "20000",
      DUPLICATE_WAIT_MS: "200",
      RETRY_HINT_MS: "300",
      MAX_IN_FLIGHT: "2",
    });
  });
  afterAll(async () => {
    await oms?.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it("says a duplicate is being processed, and refuses past the bound as overloaded, each with a retry hint", async () => {
    const client = new grpc.Client(oms.address, grpc.credentials.createInsecure());
    try {
      const headers = { ...auth, "x-request-id": "details-busy-0001" };
      const deadline = { deadline: Date.now() + 3_000 };
      const request = order(5);
      const original = grpcJsCall(client, OmsService.method.createOrder, request, headers, deadline);
      await new Promise((r) => setTimeout(r, 300));
      const duplicate = await grpcJsCall(client, OmsService.method.createOrder, request, headers, deadline);
      expect(duplicate.error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(errorInfoOf(duplicate.error)?.reason).toBe("REQUEST_IN_PROGRESS");
      expect(Number(duplicate.error?.metadata.get("grpc-retry-pushback-ms")[0])).toBeGreaterThan(0);

      const other = grpcJsCall(client, OmsService.method.createOrder, order(5), { ...auth, "x-request-id": "details-busy-0002" }, deadline);
      await new Promise((r) => setTimeout(r, 300));
      const refused = await grpcJsCall(
        client,
        OmsService.method.createOrder,
        order(5),
        { ...auth, "x-request-id": "details-busy-0003" },
        deadline,
      );
      expect(refused.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(errorInfoOf(refused.error)?.reason).toBe("OVERLOADED");
      client.close();
      await Promise.all([original, other]);
    } finally {
      client.close();
    }
  });
});
