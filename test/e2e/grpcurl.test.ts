import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthState, ServingStatus, registerHealth } from "../../src/core/rpc/health-service.js";
import { registerReflection } from "../../src/core/rpc/reflection-service.js";
import { unimplemented } from "../../src/core/process/grpc-server.js";
import { grpcurl, grpcurlFailure } from "../support/grpcurl.js";
import { startMesh } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../src/gen/grpc/health/v1/health_pb.js";

const SERVICES: DescService[] = [OmsService, RegistrarService, EmitterService, JournalService];

interface TestServer {
  address: string;
  health: HealthState;
  close(): Promise<void>;
}

/** A real HTTP/2 cleartext server on a free loopback port, serving meshRoutes. */
async function startServer(health: HealthState, reflectionRouter = (r: ConnectRouter) => r): Promise<TestServer> {
  const routes = meshRoutes(health, reflectionRouter);
  const server = http2.createServer(connectNodeAdapter({ routes, fallback: unimplemented }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    health,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Health, reflection and one OMS method to invoke, like a mesh role. */
function meshRoutes(health: HealthState, reflectionRouter: (router: ConnectRouter) => ConnectRouter) {
  return (router: ConnectRouter): void => {
    router.service(OmsService, {
      getOrder: (req) => ({
        order: { orderId: req.orderId, status: OrderStatus.READY, createTime: timestampFromDate(new Date(0)) },
      }),
    });
    registerHealth(router, health);
    registerReflection(reflectionRouter(router), SERVICES);
  };
}

/** A router that drops grpc.reflection.v1, so clients must fall back to v1alpha. */
function withoutReflectionV1(router: ConnectRouter): ConnectRouter {
  const filtered: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      if (service.typeName !== "grpc.reflection.v1.ServerReflection") router.service(service, impl, options);
      return filtered;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, options);
      return filtered;
    },
  };
  return filtered;
}

describe("grpcurl against health and reflection", { timeout: 30_000 }, () => {
  let server: TestServer;
  let alphaOnly: TestServer;

  beforeAll(async () => {
    server = await startServer(new HealthState());
    server.health.set("", "serving");
    for (const s of SERVICES) server.health.set(s.typeName, "serving");
    alphaOnly = await startServer(new HealthState(), withoutReflectionV1);
    alphaOnly.health.set("", "not_serving");
  });

  afterAll(async () => {
    await Promise.all([server?.close(), alphaOnly?.close()]);
  });

  it("lists the mesh services, health and reflection", async () => {
    const lines = (await grpcurl(server.address, "list")).trim().split("\n");
    expect(lines.sort()).toEqual([
      "emission.emitter.v1.EmitterService",
      "emission.journal.v1.JournalService",
      "emission.oms.v1.OmsService",
      "emission.registrar.v1.RegistrarService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("describes a service with its methods", async () => {
    const out = await grpcurl(server.address, "describe", "emission.oms.v1.OmsService");
    expect(out).toContain("emission.oms.v1.OmsService is a service:");
    expect(out).toContain("rpc CreateOrder ( .emission.oms.v1.CreateOrderRequest ) returns ( .emission.oms.v1.CreateOrderResponse );");
    expect(out).toMatch(
      /rpc StreamCodes \( \.emission\.oms\.v1\.StreamCodesRequest \) returns \( stream \.emission\.oms\.v1\.StreamCodesResponse \)/,
    );
  });

  it("describes a message from an imported file", async () => {
    const out = await grpcurl(server.address, "describe", "emission.common.v1.OrderSpec");
    expect(out).toContain("emission.common.v1.OrderSpec is a message:");
    expect(out).toContain("message OrderSpec {");
  });

  it("lists the methods of the health service itself", async () => {
    const out = await grpcurl(server.address, "list", "grpc.health.v1.Health");
    expect(out.trim().split("\n")).toEqual(["grpc.health.v1.Health.Check", "grpc.health.v1.Health.List", "grpc.health.v1.Health.Watch"]);
  });

  it("calls grpc.health.v1.Health/Check", async () => {
    const out = await grpcurl("-d", '{"service": "emission.oms.v1.OmsService"}', server.address, "grpc.health.v1.Health/Check");
    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
  });

  it("invokes a mesh method, rendering well-known types from reflected descriptors", async () => {
    const out = await grpcurl("-d", '{"order_id": "o-1"}', server.address, "emission.oms.v1.OmsService/GetOrder");
    expect(JSON.parse(out)).toMatchObject({
      order: { orderId: "o-1", status: "ORDER_STATUS_READY", createTime: "1970-01-01T00:00:00Z" },
    });
  });

  it("falls back to grpc.reflection.v1alpha when v1 is not served", async () => {
    expect((await grpcurl(alphaOnly.address, "list")).split("\n")).toContain("emission.oms.v1.OmsService");
    expect(await grpcurl(alphaOnly.address, "describe", "emission.common.v1.OrderSpec")).toContain("message OrderSpec {");
    expect(JSON.parse(await grpcurl(alphaOnly.address, "grpc.health.v1.Health/Check"))).toEqual({ status: "NOT_SERVING" });
  });
});

/** A CreateOrder body as a user types it for grpcurl, with one product's fields replaced. */
function createOrderJson(product: Record<string, unknown>): string {
  const base = {
    gtin: "04600000000015",
    quantity: 10,
    serialNumberType: "SERIAL_NUMBER_TYPE_OPERATOR",
    templateId: 6,
    cisType: "CIS_TYPE_UNIT",
  };
  return JSON.stringify({
    order: { productGroup: "PRODUCT_GROUP_MILK", releaseMethodType: "RELEASE_METHOD_TYPE_PRODUCTION", products: [{ ...base, ...product }] },
  });
}

interface PrintedStatus {
  code: number;
  message: string;
  details: ({ "@type": string } & Record<string, unknown>)[];
}

describe("grpcurl against the mesh as real processes", { timeout: 60_000 }, () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  const apcs = ["-H", `authorization: Bearer ${TOKENS.apcs}`];

  beforeAll(async () => {
    mesh = await startMesh();
  });

  afterAll(async () => {
    await mesh?.stop();
  });

  async function createOrderError(
    requestId: string,
    product: Record<string, unknown>,
  ): Promise<{ exitCode: number; status: PrintedStatus; plain: string }> {
    const args = [
      ...apcs,
      "-H",
      `x-request-id: ${requestId}`,
      "-d",
      createOrderJson(product),
      mesh.oms.address,
      "emission.oms.v1.OmsService/CreateOrder",
    ];
    const formatted = await grpcurlFailure("-format-error", ...args);
    // The same call again (a stored reply now) in grpcurl's plain error format.
    const plain = await grpcurlFailure(...args);
    return { exitCode: formatted.exitCode, status: JSON.parse(formatted.stderr) as PrintedStatus, plain: plain.stderr };
  }

  it("prints the BadRequest and ErrorInfo of a malformed CreateOrder (step 2 at OMS) as JSON", async () => {
    const { exitCode, status, plain } = await createOrderError("grpcurl-step4-0001", { gtin: "4600" });
    expect(exitCode).toBe(64 + 3); // grpcurl exits 64 + the status code: INVALID_ARGUMENT
    expect(status.code).toBe(3);
    const badRequest = status.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
    expect(badRequest?.fieldViolations).toEqual([expect.objectContaining({ field: "order.products[0].gtin" })]);
    const errorInfo = status.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    expect(errorInfo).toMatchObject({ domain: "emission-mesh", metadata: expect.objectContaining({ step: "2" }) });
    expect(plain).toContain('"field": "order.products[0].gtin"');
    expect(plain).not.toMatch(/not recognized|unknown type/i);
  });

  it("prints the details of a business-rule refusal (step 5), PreconditionFailure included", async () => {
    const { status } = await createOrderError("grpcurl-step5-0001", { gtin: "04600000000016" }); // wrong check digit
    expect(status.code).toBe(9); // FAILED_PRECONDITION
    expect(status.details.map((d) => d["@type"])).toEqual(
      expect.arrayContaining([
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.PreconditionFailure",
        "type.googleapis.com/google.rpc.ErrorInfo",
      ]),
    );
  });

  it("describes the error detail types and the buf.validate rules of a request field", async () => {
    expect(await grpcurl(mesh.oms.address, "describe", "google.rpc.RetryInfo")).toContain("message RetryInfo {");
    const product = await grpcurl(mesh.emission.address, "describe", "emission.common.v1.Product");
    expect(product).toMatch(/string gtin = 1 \[[^\]]*\(\.?buf\.validate\.field\)/);
  });

  it("calls ListProductGroups with a line controller's token, no request id needed", async () => {
    const out = JSON.parse(await grpcurl(...apcs, mesh.oms.address, "emission.oms.v1.OmsService/ListProductGroups")) as {
      productGroups: {
        productGroup: string;
        name: string;
        templateIds: number[];
        serialLength: number;
        cryptoTailLength: number;
        codeFormat: { layout: string };
      }[];
    };
    const milk = out.productGroups.find((g) => g.productGroup === "PRODUCT_GROUP_MILK");
    expect(milk).toMatchObject({ name: "milk", templateIds: [6, 20], serialLength: 13, cryptoTailLength: 44 });
    expect(milk?.codeFormat.layout).toBe("01 <GTIN: 14 digits> 21 <serial: 13> <GS> 91 <key id: 4> <GS> 92 <crypto tail: 44>");
  });
});

/** Hand-written grpc-js definition: proves the wire contract without our generated client. */
const healthDefinition = {
  check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(HealthCheckRequestSchema, b),
    responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
  },
  watch: {
    path: "/grpc.health.v1.Health/Watch",
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(HealthCheckRequestSchema, b),
    responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
  },
} satisfies grpc.ServiceDefinition;

function check(client: grpc.Client, service: string): Promise<HealthCheckResponse> {
  const { path, requestSerialize, responseDeserialize } = healthDefinition.check;
  const req = create(HealthCheckRequestSchema, { service });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, requestSerialize, responseDeserialize, req, (err, res) =>
      err || res === undefined ? reject(err ?? new Error("no response")) : resolve(res),
    );
  });
}

describe("grpc-js client against health", { timeout: 30_000 }, () => {
  let server: TestServer;
  let client: grpc.Client;

  beforeAll(async () => {
    server = await startServer(new HealthState());
    server.health.set("", "serving");
    client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it("Check answers SERVING for the whole server", async () => {
    expect((await check(client, "")).status).toBe(ServingStatus.SERVING);
  });

  it("Check fails with NOT_FOUND for an unknown service", async () => {
    await expect(check(client, "nope.v1.Nope")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("Watch streams changes and releases its listener when cancelled", async () => {
    const { path, requestSerialize, responseDeserialize } = healthDefinition.watch;
    const req = create(HealthCheckRequestSchema, { service: "emission.oms.v1.OmsService" });
    const call = client.makeServerStreamRequest(path, requestSerialize, responseDeserialize, req);
    call.on("error", () => {}); // the cancel below surfaces as CANCELLED
    const seen: ServingStatus[] = [];
    await new Promise<void>((resolve) => {
      call.on("data", (res: HealthCheckResponse) => {
        seen.push(res.status);
        if (res.status === ServingStatus.SERVICE_UNKNOWN) server.health.set("emission.oms.v1.OmsService", "serving");
        else resolve();
      });
    });
    expect(seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING]);
    call.cancel();
    await expect.poll(() => server.health.listenerCount, { timeout: 5_000 }).toBe(0);
  });
});
