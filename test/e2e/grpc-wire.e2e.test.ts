import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { grpcJsServerStream, grpcJsUnary } from "../support/grpc-js-client.js";
import { gtin, milkOrder } from "../support/orders.js";
import { startMesh, startRole, type RoleProcess } from "../support/processes.js";
import { grpcFrame, grpcStatusOf, rawGrpcCall } from "../support/raw-grpc.js";
import { TOKENS } from "../support/test-config.js";

const APCS = { authorization: `Bearer ${TOKENS.apcs}` };
/** Slow emission: an order of 1000 codes is still emitting while a test runs. */
const SLOW = { EMISSION_RATE: "40", BLOCK_SIZE: "10" };
const NOT_FOUND_CYRILLIC = 'order "заказ-1" not found';
/** The busy role's retry hint: its pushback is this to twice this. */
const HINT_MS = 300;
/** A stock gRPC service-config retry policy, as any gRPC client library takes it. */
const RETRY_POLICY = {
  methodConfig: [
    {
      name: [{ service: "emission.oms.v1.OmsService" }],
      retryPolicy: {
        maxAttempts: 5,
        initialBackoff: "0.01s",
        maxBackoff: "0.05s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["RESOURCE_EXHAUSTED", "UNAVAILABLE"],
      },
    },
  ],
};

/** The fields of a role's JSON log line the tests read. */
interface LogLine {
  time: number;
  msg: string;
  method?: string;
  requestId?: string;
  code?: string;
}

describe("gRPC wire of the role processes", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  let oms: grpc.Client;
  let ids = 0;
  const requestId = (): string => {
    ids += 1;
    return `wire-${process.pid}-${ids}`;
  };
  const emitting: string[] = [];
  /** A fresh order still emitting codes (cancelled after the test, so it holds up no later order). */
  const slowOrder = async (): Promise<string> => {
    const created = await grpcJsUnary(
      oms,
      OmsService.method.createOrder,
      create(OmsService.method.createOrder.input, { order: milkOrder(1_000) }),
      { ...APCS, "x-request-id": requestId() },
    );
    emitting.push(created.order!.orderId);
    return created.order!.orderId;
  };
  afterEach(async () => {
    for (const orderId of emitting.splice(0)) {
      await grpcJsUnary(oms, OmsService.method.cancelOrder, create(OmsService.method.cancelOrder.input, { orderId }), {
        ...APCS,
        "x-request-id": requestId(),
      });
    }
  });
  beforeAll(async () => {
    mesh = await startMesh(SLOW);
    oms = new grpc.Client(mesh.oms.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    oms?.close();
    await mesh?.stop();
  });

  describe("Trailers-Only", () => {
    it("sends an error before any message as ONE HEADERS frame with END_STREAM", async () => {
      const body = grpcFrame(OmsService.method.getOrder.input, create(OmsService.method.getOrder.input, { orderId: "заказ-1" }));
      const path = "/emission.oms.v1.OmsService/GetOrder";
      for (const [headers, status] of [
        [{}, "16"],
        [APCS, "5"],
      ] as const) {
        const reply = await rawGrpcCall(mesh.oms.address, path, body, headers);
        expect(reply.headersFrames).toBe(1);
        expect(reply.headersEndStream).toBe(true);
        expect(reply.data.length).toBe(0);
        expect(reply.headers[":status"]).toBe(200);
        expect(reply.headers["content-type"]).toMatch(/^application\/grpc/);
        expect(reply.headers["grpc-status"]).toBe(status);
        expect(reply.headers["grpc-message"]).toEqual(expect.any(String));
      }
    });

    it("answers an unknown method with Trailers-Only UNIMPLEMENTED", async () => {
      const reply = await rawGrpcCall(mesh.oms.address, "/emission.oms.v1.OmsService/NoSuchMethod", Buffer.alloc(5), APCS);
      expect(reply.headersFrames).toBe(1);
      expect(reply.headersEndStream).toBe(true);
      expect(reply.headers["grpc-status"]).toBe("12");
      expect(reply.headers["grpc-message"]).toBe("unknown method /emission.oms.v1.OmsService/NoSuchMethod");
    });

    it("leaves gRPC-web and Connect responses as connect writes them", async () => {
      const message = create(OmsService.method.getOrder.input, { orderId: "заказ-1" });
      const path = "/emission.oms.v1.OmsService/GetOrder";
      const web = await rawGrpcCall(mesh.oms.address, path, grpcFrame(OmsService.method.getOrder.input, message), {
        ...APCS,
        "content-type": "application/grpc-web+proto",
      });
      expect(web.headersEndStream).toBe(false);
      expect(web.headers["grpc-status"]).toBeUndefined();
      expect(web.data.toString("latin1")).toContain("grpc-status: 5");
      const connect = await rawGrpcCall(mesh.oms.address, path, grpcFrame(OmsService.method.getOrder.input, message).subarray(5), {
        ...APCS,
        "content-type": "application/proto",
      });
      expect(connect.headers[":status"]).toBe(404);
      expect(JSON.parse(connect.data.toString("utf8"))).toMatchObject({ code: "not_found", message: NOT_FOUND_CYRILLIC });
    });

    it("sends a success as headers, data, then trailers", async () => {
      const body = grpcFrame(Health.method.check.input, create(Health.method.check.input, { service: "" }));
      const reply = await rawGrpcCall(mesh.oms.address, "/grpc.health.v1.Health/Check", body);
      expect(reply.headersEndStream).toBe(false);
      expect(reply.headers["grpc-status"]).toBeUndefined();
      expect(reply.data.length).toBeGreaterThan(5);
      expect(reply.trailers?.["grpc-status"]).toBe("0");
      expect(reply.headersFrames).toBe(2);
    });
  });

  describe("grpc-message", () => {
    it("is percent-encoded only outside printable ASCII, so grpc-js reads the server's message exactly", async () => {
      const raw = await rawGrpcCall(
        mesh.oms.address,
        "/emission.oms.v1.OmsService/GetOrder",
        grpcFrame(OmsService.method.getOrder.input, create(OmsService.method.getOrder.input, { orderId: "заказ-1" })),
        APCS,
      );
      expect(raw.headers["grpc-message"]).toBe('order "%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7-1" not found');

      const notFound = await failure(
        grpcJsUnary(oms, OmsService.method.getOrder, create(OmsService.method.getOrder.input, { orderId: "заказ-1" }), APCS),
      );
      expect(notFound.code).toBe(grpc.status.NOT_FOUND);
      expect(notFound.details).toBe(NOT_FOUND_CYRILLIC);

      const bad = milkOrder(5);
      bad.products![0]!.gtin = "x";
      const id = requestId();
      const rejected = await failure(
        grpcJsUnary(oms, OmsService.method.createOrder, create(OmsService.method.createOrder.input, { order: bad }), {
          ...APCS,
          "x-request-id": id,
        }),
      );
      expect(rejected.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(rejected.details).toMatch(/: .*gtin/);
      expect(rejected.details).not.toMatch(/%[0-9A-F]{2}/);
      // The same message as connect-es reads it (the stored reply of this request id).
      const replayed = await connectFailure(
        createClient(OmsService, grpcTransport()).createOrder({ order: bad }, { headers: { ...APCS, "x-request-id": id } }),
      );
      expect(replayed.rawMessage).toBe(rejected.details);
    });

    it("is encoded the same way in trailers, after messages", async () => {
      const orderId = await slowOrder();
      const { call, done } = grpcJsServerStream(
        oms,
        OmsService.method.streamCodes,
        create(OmsService.method.streamCodes.input, { orderId }),
        APCS,
      );
      await new Promise((resolve) => call.once("data", resolve));
      await grpcJsUnary(oms, OmsService.method.cancelOrder, create(OmsService.method.cancelOrder.input, { orderId }), {
        ...APCS,
        "x-request-id": requestId(),
      });
      const { messages, error } = await done;
      expect(messages.length).toBeGreaterThan(0);
      expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error?.details).toMatch(new RegExp(`^order ${orderId} is CANCELLED: [a-z ]+$`));
    });

    it("still reads right in connect-es clients over gRPC and Connect", async () => {
      for (const transport of [grpcTransport(), createConnectTransport({ baseUrl: `http://${mesh.oms.address}`, httpVersion: "2" })]) {
        const err = await connectFailure(createClient(OmsService, transport).getOrder({ orderId: "заказ-1" }, { headers: APCS }));
        expect(err.code).toBe(Code.NotFound);
        expect(err.rawMessage).toBe(NOT_FOUND_CYRILLIC);
      }
    });
  });

  describe("streams end OK only when complete", () => {
    it("a stream that is complete still ends OK", async () => {
      const created = await grpcJsUnary(
        oms,
        OmsService.method.createOrder,
        create(OmsService.method.createOrder.input, { order: milkOrder(10) }),
        { ...APCS, "x-request-id": requestId() },
      );
      const { messages, error } = await grpcJsServerStream(
        oms,
        OmsService.method.streamCodes,
        create(OmsService.method.streamCodes.input, { orderId: created.order!.orderId }),
        APCS,
      ).done;
      expect(error).toBeUndefined();
      expect(messages.at(-1)?.block?.last).toBe(true);
    });

    it("StreamCodes at every role ends DEADLINE_EXCEEDED when the server's deadline passes mid-order", async () => {
      const orderId = await slowOrder();
      const roles = [
        {
          address: mesh.oms.address,
          path: "/emission.oms.v1.OmsService/StreamCodes",
          token: TOKENS.apcs,
          input: OmsService.method.streamCodes.input,
        },
        {
          address: mesh.registrar.address,
          path: "/emission.registrar.v1.RegistrarService/StreamCodes",
          token: TOKENS.oms,
          input: RegistrarService.method.streamCodes.input,
        },
        {
          address: mesh.emission.address,
          path: "/emission.emitter.v1.EmitterService/StreamCodes",
          token: TOKENS.registrar,
          input: EmitterService.method.streamCodes.input,
        },
      ];
      for (const r of roles) {
        // grpc-timeout alone, no client-side timer: the status is the server's own.
        const reply = await rawGrpcCall(r.address, r.path, grpcFrame(r.input, create(r.input, { orderId })), {
          authorization: `Bearer ${r.token}`,
          "grpc-timeout": "300m",
        });
        expect({ path: r.path, status: grpcStatusOf(reply) }).toEqual({ path: r.path, status: "4" });
      }
    });

    it("StreamCodes, WatchOrder and health Watch end DEADLINE_EXCEEDED for a grpc-js client with a deadline", async () => {
      const orderId = await slowOrder();
      const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 400 });
      const results = await Promise.all([
        grpcJsServerStream(oms, OmsService.method.streamCodes, create(OmsService.method.streamCodes.input, { orderId }), APCS, deadline())
          .done,
        grpcJsServerStream(oms, OmsService.method.watchOrder, create(OmsService.method.watchOrder.input, { orderId }), APCS, deadline())
          .done,
        grpcJsServerStream(oms, Health.method.watch, create(Health.method.watch.input, { service: "" }), {}, deadline()).done,
      ]);
      expect(results.map((r) => r.error?.code)).toEqual([
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
      ]);
      expect(results[1]!.messages.length).toBeGreaterThan(0);
      expect(results[2]!.messages.length).toBe(1);
    });

    it("WatchOrder and health Watch end DEADLINE_EXCEEDED on the server's deadline too", async () => {
      const orderId = await slowOrder();
      const watchOrder = await rawGrpcCall(
        mesh.oms.address,
        "/emission.oms.v1.OmsService/WatchOrder",
        grpcFrame(OmsService.method.watchOrder.input, create(OmsService.method.watchOrder.input, { orderId })),
        { ...APCS, "grpc-timeout": "300m" },
      );
      const watchHealth = await rawGrpcCall(
        mesh.oms.address,
        "/grpc.health.v1.Health/Watch",
        grpcFrame(Health.method.watch.input, create(Health.method.watch.input, { service: "" })),
        { "grpc-timeout": "300m" },
      );
      expect([grpcStatusOf(watchOrder), grpcStatusOf(watchHealth)]).toEqual(["4", "4"]);
      expect(watchOrder.data.length).toBeGreaterThan(0);
    });
  });

  describe("a role at its bound of work, with a grpc-js retry policy", () => {
    let busy: RoleProcess;
    const logged: LogLine[] = [];
    beforeAll(async () => {
      busy = await startRole(
        "oms",
        // At debug level each refusal is logged (at info they are only counted and journaled per window).
        { ...SLOW, REGISTRAR_ADDR: mesh.registrar.address, MAX_IN_FLIGHT: "1", RETRY_HINT_MS: String(HINT_MS), LOG_LEVEL: "debug" },
        0,
        (line) => logged.push(JSON.parse(line) as LogLine),
      );
    });
    afterAll(async () => {
      await busy?.stop();
    });

    it("has its refusals retried by grpc-js itself, after the pushback, until all succeed, with one order per request id", async () => {
      const client = new grpc.Client(busy.address, grpc.credentials.createInsecure(), {
        "grpc.service_config": JSON.stringify(RETRY_POLICY),
      });
      try {
        const requestIds = Array.from({ length: 4 }, requestId);
        const place = (id: string) =>
          grpcJsUnary(
            client,
            OmsService.method.createOrder,
            create(OmsService.method.createOrder.input, { order: milkOrder(5, gtinOf(id)) }),
            { ...APCS, "x-request-id": id },
          );
        const orders = await Promise.all(requestIds.map(place));
        const orderIds = orders.map((o) => o.order!.orderId);
        expect(new Set(orderIds).size).toBe(requestIds.length);

        const refusals = logged.filter((l) => l.method === "emission.oms.v1.OmsService/CreateOrder" && l.code === "RESOURCE_EXHAUSTED");
        expect(refusals.length).toBeGreaterThan(0);
        for (const [i, id] of requestIds.entries()) {
          // Each refused attempt, then the next attempt of the same request id: a later refusal, or the one that made the order.
          const times = refusals
            .filter((l) => l.requestId === id)
            .map((l) => l.time)
            .sort((a, b) => a - b);
          const attempts = [...times, timestampMs(orders[i]!.order!.createTime!)];
          for (let k = 0; k + 1 < attempts.length; k++) {
            // The pushback is at least HINT_MS; grpc-js's own backoff here would be at most 50 ms.
            expect(attempts[k + 1]! - attempts[k]!).toBeGreaterThanOrEqual(HINT_MS - 20);
          }
        }
        // The same request ids again: the stored replies, no new orders.
        const again = await Promise.all(requestIds.map(place));
        expect(again.map((o) => o.order!.orderId)).toEqual(orderIds);
      } finally {
        client.close();
      }
    });

    it("ends a stream the client cancels with CANCELLED on the server, not OK", async () => {
      const client = new grpc.Client(busy.address, grpc.credentials.createInsecure());
      try {
        const created = await grpcJsUnary(
          client,
          OmsService.method.createOrder,
          create(OmsService.method.createOrder.input, { order: milkOrder(1_000) }),
          { ...APCS, "x-request-id": requestId() },
        );
        const orderId = created.order!.orderId;
        const { call, done } = grpcJsServerStream(
          client,
          OmsService.method.watchOrder,
          create(OmsService.method.watchOrder.input, { orderId }),
          APCS,
        );
        await new Promise((resolve) => call.once("data", resolve));
        call.cancel();
        expect((await done).error?.code).toBe(grpc.status.CANCELLED);
        await eventually(() => logged.some((l) => l.method === "emission.oms.v1.OmsService/WatchOrder" && l.code === "CANCELED"));
        await grpcJsUnary(client, OmsService.method.cancelOrder, create(OmsService.method.cancelOrder.input, { orderId }), {
          ...APCS,
          "x-request-id": requestId(),
        });
      } finally {
        client.close();
      }
    });
  });

  function grpcTransport(): Transport {
    return createGrpcTransport({ baseUrl: `http://${mesh.oms.address}` });
  }
});

/** A GTIN of its own per request id, so the orders of one test share no serials. */
function gtinOf(id: string): string {
  return gtin(`0461${id.replace(/\D/g, "").slice(-9).padStart(9, "0")}`);
}

/** Resolves once `check` holds (log lines arrive asynchronously), polling for a bounded while. */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(check()).toBe(true);
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => expect.fail("the call succeeded"),
    (e: unknown) => e as grpc.ServiceError,
  );
}

async function connectFailure(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    () => expect.fail("the call succeeded"),
    (e: unknown) => ConnectError.from(e),
  );
}
