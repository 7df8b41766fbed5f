import { Code, createClient } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTracing, tracedTransport, tracer, type Tracing } from "../../src/core/telemetry/index.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { rejection } from "../support/rejection.js";
import { PARTICIPANT, testConfig, TOKENS } from "../support/test-config.js";
import { bearer } from "../support/in-memory-mesh.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { pino } from "pino";

const OMS = "emission.oms.v1.OmsService";
const REGISTRAR = "emission.registrar.v1.RegistrarService";
const EMITTER = "emission.emitter.v1.EmitterService";

describe("tracing across the mesh (OpenTelemetry, in-memory exporter)", () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing("test-mesh", exporter, true)!;
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000" });
  });
  afterAll(async () => {
    await mesh.close();
    await tracing.stop();
  });

  const traceOf = (root: ReadableSpan): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
  const named = (spans: ReadableSpan[], name: string, kind?: SpanKind): ReadableSpan[] =>
    spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  const rootNamed = (name: string, requestId: string): ReadableSpan => {
    const root = exporter.getFinishedSpans().find((s) => s.name === name && s.attributes["emission.request_id"] === requestId);
    expect(root).toBeDefined();
    return root!;
  };

  it("makes one business order one trace: CreateOrder through the three servers, the step spans and the async work", async () => {
    const requestId = "trace-order-0001";
    const order = await mesh.apcs.placeOrder(milkOrder(250), requestId);
    await mesh.apcs.receiveCodes(order.orderId);
    const root = rootNamed("step 1: form order", requestId);

    // The fillers' spans end when their last block is stored; wait for them rather than for a time.
    await vi.waitFor(() => {
      const spans = traceOf(root);
      expect(named(spans, "step 10.1: fill")).toHaveLength(1);
      expect(named(spans, "step 14.1: fill")).toHaveLength(1);
      // The code streams the fillers opened are in it too, on both sides of each hop.
      for (const service of [EMITTER, REGISTRAR]) {
        expect(named(spans, `${service}/StreamCodes`, SpanKind.CLIENT).length).toBeGreaterThanOrEqual(1);
        expect(named(spans, `${service}/StreamCodes`, SpanKind.SERVER).length).toBeGreaterThanOrEqual(1);
      }
    });
    const spans = traceOf(root);
    for (const [service, method] of [
      [OMS, "CreateOrder"],
      [REGISTRAR, "CreatePool"],
      [EMITTER, "CreateEmissionOrder"],
    ]) {
      expect(named(spans, `${service}/${method}`, SpanKind.CLIENT), `${method} client`).toHaveLength(1);
      expect(named(spans, `${service}/${method}`, SpanKind.SERVER), `${method} server`).toHaveLength(1);
    }
    for (const step of [
      "step 2: check request",
      "step 3: form request",
      "step 4: check request",
      "step 5: check order",
      "step 6: assign order id and readiness",
      "step 9: check reply",
      "step 10: empty pool",
      "step 13: check reply",
      "step 14: code array",
      "step 18: save order",
      "step 18: receive codes",
    ]) {
      expect(named(spans, step), step).toHaveLength(1);
    }
    const step5 = named(spans, "step 5: check order")[0]!;
    expect(step5.attributes).toMatchObject({
      "emission.order_id": order.orderId,
      "emission.participant_id": PARTICIPANT,
      "emission.step": "5",
    });
    // The async work: three blocks emitted, each a span in the order's trace, and stored in the pool and in
    // the array, a span for each run of blocks that arrived together (one to three of them).
    expect(named(spans, "step 6.1: emit block")).toHaveLength(3);
    for (const step of ["10.1", "14.1"]) {
      expect(named(spans, `step ${step}: store block`).length).toBeGreaterThanOrEqual(1);
      expect(named(spans, `step ${step}: store block`).length).toBeLessThanOrEqual(3);
    }
    for (const s of named(spans, "step 6.1: emit block")) expect(s.attributes["emission.order_id"]).toBe(order.orderId);
    // The line's code stream and its acknowledgements are in the order's trace too.
    expect(named(spans, `${OMS}/StreamCodes`, SpanKind.CLIENT).length).toBeGreaterThanOrEqual(1);
    expect(named(spans, `${OMS}/AcknowledgeBlocks`, SpanKind.SERVER).length).toBeGreaterThanOrEqual(1);
    const server = named(spans, `${OMS}/CreateOrder`, SpanKind.SERVER)[0]!;
    expect(server.attributes).toMatchObject({ "rpc.grpc.status_code": 0, "emission.participant_id": PARTICIPANT });
  });

  it("records a refused order's error with its gRPC code on the step that refused it and on every hop above", async () => {
    const spec = milkOrder(10);
    const good = spec.products![0]!.gtin!;
    spec.products![0]!.gtin = good.slice(0, 13) + String((Number(good[13]) + 1) % 10);
    const requestId = "trace-refused-0001";
    expect((await rejection(mesh.apcs.placeOrder(spec, requestId))).code).toBe(Code.FailedPrecondition);
    const spans = traceOf(rootNamed("step 1: form order", requestId));
    for (const name of ["step 5: check order", `${EMITTER}/CreateEmissionOrder`, `${REGISTRAR}/CreatePool`, `${OMS}/CreateOrder`]) {
      for (const s of named(spans, name)) {
        expect(s.status.code, name).toBe(SpanStatusCode.ERROR);
        expect(s.attributes["rpc.grpc.status_code"], name).toBe(Code.FailedPrecondition);
      }
    }
    expect(named(spans, "step 6: assign order id and readiness")).toHaveLength(0);
  });

  it("shows a retransmitted duplicate as a replay in the same trace, doing no work again", async () => {
    const oms = createClient(OmsService, tracedTransport(mesh.to("oms", TOKENS.apcs)));
    const headers = { "x-request-id": "trace-dup-0001" };
    const request = { order: milkOrder(10) };
    const traceId = await tracer.startActiveSpan("line controller", async (span) => {
      const first = await oms.createOrder(request, { headers });
      const again = await oms.createOrder(request, { headers });
      expect(again.order?.orderId).toBe(first.order?.orderId);
      span.end();
      return span.spanContext().traceId;
    });
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    expect(named(spans, `${OMS}/CreateOrder`, SpanKind.SERVER)).toHaveLength(2);
    expect(named(spans, "replay: CreateOrder")).toHaveLength(1);
    expect(named(spans, `${REGISTRAR}/CreatePool`, SpanKind.SERVER)).toHaveLength(1);
  });

  it("keeps emission in the order's trace when another instance takes the order over after a crash", async () => {
    const config = testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000", WORK_LEASE_MS: "200" });
    const silent = pino({ level: "silent" });
    const store = new MemoryStore();
    let crashed!: () => void;
    const died = new Promise<void>((resolve) => (crashed = resolve));
    // The first instance "dies" as it reaches block 3.
    const serialsTaken = (chunk: string): void => {
      if (!chunk.endsWith("/0/2")) return;
      crashed();
      throw new Error("simulated crash");
    };
    const dying = await buildEmissionServer({ config, log: silent, store, emitterFaults: { serialsTaken } });
    const client = createClient(EmitterService, tracedTransport(inMemoryTransport(dying.spec, bearer(TOKENS.registrar))));
    const { orderId, traceId } = await tracer.startActiveSpan("registrar", async (span) => {
      const r = await client.createEmissionOrder(
        { participantId: "77", order: milkOrder(45) },
        { headers: { "x-request-id": "trace-crash-1" } },
      );
      span.end();
      return { orderId: r.orderId, traceId: span.spanContext().traceId };
    });
    await died;
    await dying.stop();
    const next = await buildEmissionServer({ config, log: silent, store });
    try {
      const reader = createClient(EmitterService, inMemoryTransport(next.spec, bearer(TOKENS.registrar)));
      let codes = 0;
      for await (const r of reader.streamCodes({ orderId })) codes += r.block?.codes.length ?? 0;
      expect(codes).toBe(45);
    } finally {
      await next.stop();
    }
    const emitted = exporter
      .getFinishedSpans()
      .filter((s) => s.name === "step 6.1: emit block" && s.attributes["emission.order_id"] === orderId);
    // Blocks 1-2 by the first instance, the crash on block 3, blocks 3-5 by the second: all in the one trace.
    expect(emitted.filter((s) => s.status.code !== SpanStatusCode.ERROR)).toHaveLength(5);
    for (const s of emitted) expect(s.spanContext().traceId).toBe(traceId);
  });
});
