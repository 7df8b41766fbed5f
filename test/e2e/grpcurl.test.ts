import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthState, ServingStatus, registerHealth } from "../../src/core/health-service.js";
import { registerReflection } from "../../src/core/reflection-service.js";
import { unimplemented } from "../../src/core/grpc-server.js";
import { grpcurl } from "../support/grpcurl.js";
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
    expect(out).toMatch(/rpc StreamCodes \( \.emission\.oms\.v1\.StreamCodesRequest \) returns \( stream \.emission\.oms\.v1\.StreamCodesResponse \)/);
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
