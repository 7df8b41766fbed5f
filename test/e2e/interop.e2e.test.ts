import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack, durationMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { CreateOrderRequestSchema, GetOrderRequestSchema, OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { BadRequestSchema, RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { grpcJsUnary } from "../support/grpc-js-client.js";
import { grpcurl } from "../support/grpcurl.js";
import { milkOrder } from "../support/orders.js";
import { startMesh, startRole } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

describe("the mesh's servers with clients other than connect", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  beforeAll(async () => {
    mesh = await startMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it("lists each role's services to grpcurl through reflection", async () => {
    expect((await grpcurl(mesh.oms.address, "list")).split("\n")).toEqual(
      expect.arrayContaining([
        "emission.oms.v1.OmsService",
        "emission.journal.v1.JournalService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
      ]),
    );
    expect(await grpcurl(mesh.registrar.address, "list")).toContain("emission.registrar.v1.RegistrarService");
    expect(await grpcurl(mesh.emission.address, "list")).toContain("emission.emitter.v1.EmitterService");
    expect(JSON.parse(await grpcurl(mesh.oms.address, "grpc.health.v1.Health/Check"))).toEqual({ status: "SERVING" });
  });

  it("places an order and streams its codes with grpcurl and JSON", async () => {
    const body = JSON.stringify({
      order: {
        ...milkOrder(25),
        productGroup: "PRODUCT_GROUP_MILK",
        releaseMethodType: "RELEASE_METHOD_TYPE_PRODUCTION",
        products: milkOrder(25).products!.map((p) => ({ ...p, serialNumberType: "SERIAL_NUMBER_TYPE_OPERATOR", cisType: "CIS_TYPE_UNIT" })),
      },
    });
    const auth = ["-H", `authorization: Bearer ${TOKENS.apcs}`];
    const created = JSON.parse(
      await grpcurl(...auth, "-H", "x-request-id: grpcurl-order-1", "-d", body, mesh.oms.address, "emission.oms.v1.OmsService/CreateOrder"),
    ) as { order: { orderId: string; status: string } };
    expect(created.order.status).toBe("ORDER_STATUS_APPROVED");
    const streamed = await grpcurl(
      ...auth,
      "-d",
      JSON.stringify({ orderId: created.order.orderId }),
      mesh.oms.address,
      "emission.oms.v1.OmsService/StreamCodes",
    );
    const block = JSON.parse(streamed) as { block: { seq: number; codes: string[]; last: boolean } };
    expect(block.block.codes).toHaveLength(25);
    expect(block.block.last).toBe(true);
  });

  it("serves a @grpc/grpc-js client, errors and field violations included", async () => {
    const client = new grpc.Client(mesh.oms.address, grpc.credentials.createInsecure());
    try {
      const auth = { authorization: `Bearer ${TOKENS.apcs}` };
      const created = await grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: milkOrder(5) }), {
        ...auth,
        "x-request-id": "grpc-js-order-1",
      });
      const got = await grpcJsUnary(
        client,
        OmsService.method.getOrder,
        create(GetOrderRequestSchema, { orderId: created.order!.orderId }),
        auth,
      );
      expect(got.order?.status).toBeOneOf([OrderStatus.APPROVED, OrderStatus.READY]);

      const bad = milkOrder(5);
      bad.products![0]!.gtin = "x";
      const err = (await grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: bad }), {
        ...auth,
        "x-request-id": "grpc-js-order-2",
      }).then(
        () => undefined,
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      const status = fromBinary(StatusSchema, err.metadata.get("grpc-status-details-bin")[0] as Buffer);
      const badRequest = status.details.map((d) => anyUnpack(d, BadRequestSchema)).find((d) => d !== undefined);
      expect(badRequest?.fieldViolations.map((v) => v.field)).toContain("order.products[0].gtin");
    } finally {
      client.close();
    }
  });

  it("tells a @grpc/grpc-js client it is overloaded: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms and RetryInfo", async () => {
    const busy = await startRole("oms", { REGISTRAR_ADDR: mesh.registrar.address, MAX_IN_FLIGHT: "1", RETRY_HINT_MS: "250" });
    const client = new grpc.Client(busy.address, grpc.credentials.createInsecure());
    try {
      const auth = { authorization: `Bearer ${TOKENS.apcs}` };
      const calls = Array.from({ length: 12 }, (_, i) =>
        grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: milkOrder(5) }), {
          ...auth,
          "x-request-id": `grpc-js-busy-${i}`,
        }).then(
          () => undefined,
          (e: unknown) => e as grpc.ServiceError,
        ),
      );
      const refused = (await Promise.all(calls)).filter((e): e is grpc.ServiceError => e !== undefined);
      expect(refused.length).toBeGreaterThan(0);
      for (const e of refused) {
        expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        expect(Number(e.metadata.get("grpc-retry-pushback-ms")[0])).toBeGreaterThanOrEqual(250);
        const status = fromBinary(StatusSchema, e.metadata.get("grpc-status-details-bin")[0] as Buffer);
        const info = status.details.map((d) => anyUnpack(d, RetryInfoSchema)).find((d) => d !== undefined);
        expect(info?.retryDelay === undefined ? 0 : durationMs(info.retryDelay)).toBeGreaterThanOrEqual(250);
      }
    } finally {
      client.close();
      await busy.stop();
    }
  });
});
