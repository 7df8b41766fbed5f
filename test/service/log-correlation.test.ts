import { Code } from "@connectrpc/connect";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, withLogFields } from "../../src/core/runtime/index.js";
import { currentTraceparent, inOrderTrace, inSpan, startTracing, type Tracing } from "../../src/core/telemetry/index.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { rejection } from "../support/rejection.js";

type Line = Record<string, unknown>;

describe("log lines joined to their call and background work", () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let mesh: InMemoryMesh;
  const lines: Line[] = [];
  const log = createLogger("mesh", "info", { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing("test-logs", exporter, true)!;
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000" }, {}, {}, log);
  });
  afterAll(async () => {
    await mesh.close();
    await tracing.stop();
  });

  it("gives the journal lines of a refused order, at every hop, the order's trace id and the request id of the call", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "log-refused";
    const good = spec.products![0]!.gtin!;
    spec.products![0]!.gtin = good.slice(0, 13) + String((Number(good[13]) + 1) % 10);
    expect((await rejection(mesh.apcs.placeOrder(spec, "log-refused-0001"))).code).toBe(Code.FailedPrecondition);
    const root = exporter
      .getFinishedSpans()
      .find((s) => s.name === "step 1: form order" && s.attributes["emission.request_id"] === "log-refused-0001");
    const traceId = root?.spanContext().traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const journaled = lines.filter((l) => l.orderId === "log-refused");
    expect(journaled.map((l) => l.step).sort()).toEqual(["13.1", "5.1", "9.1"]);
    for (const l of journaled) {
      expect(l.traceId, String(l.step)).toBe(traceId);
      expect(l.requestId, String(l.step)).toMatch(/\S{8,}/);
      expect(l.participantId, String(l.step)).toBe("7700000001");
    }
  });

  it("puts the step, order id and trace id of the work on a line written inside a step, over the call's request id", async () => {
    lines.length = 0;
    await withLogFields({ requestId: "req-0001" }, () =>
      inSpan("step 5: check order", { orderId: "order-1", step: "5" }, async () => log.info("inside")),
    );
    log.info("outside");
    expect(lines[0]).toMatchObject({ msg: "inside", requestId: "req-0001", orderId: "order-1", step: "5" });
    expect(lines[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[1]).not.toHaveProperty("requestId");
    expect(lines[1]).not.toHaveProperty("traceId");
  });

  it("runs background work in the order's stored trace, not in the call that happened to start it", async () => {
    lines.length = 0;
    const stored = await inSpan("step 6: assign", { step: "6" }, async () => currentTraceparent());
    await withLogFields({ requestId: "unrelated-call" }, () =>
      inOrderTrace(stored, "step 6.1: emit block", { orderId: "order-2", step: "6.1" }, async () => log.info("emitting")),
    );
    expect(lines[0]).toMatchObject({ msg: "emitting", orderId: "order-2", step: "6.1", traceId: stored?.split("-")[1] });
    expect(lines[0]).not.toHaveProperty("requestId");
  });
});
