import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { startTracing, type Tracing } from "../../src/core/telemetry/index.js";
import { milkOrder } from "../support/orders.js";
import { type RoleProcess, startRole } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

/** An OTLP/HTTP collector that keeps every request body it is sent. */
async function fakeCollector(): Promise<{ url: string; bodies: Buffer[]; server: Server }> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces") bodies.push(Buffer.concat(chunks));
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, server };
}

/** Starts a role and learns its metrics port from its "metrics listening" line. */
async function startObserved(role: "emission-server" | "registrar" | "oms", env: Record<string, string>) {
  let metricsPort = 0;
  const watch = (line: string): void => {
    if (line.includes('"msg":"metrics listening"')) metricsPort = (JSON.parse(line) as { port: number }).port;
  };
  const process = await startRole(role, env, 0, watch);
  expect(metricsPort).toBeGreaterThan(0);
  return { process, metrics: `http://127.0.0.1:${metricsPort}/metrics` };
}

async function sample(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(url)).text();
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.split(" ").at(-1));
}

describe("observability of the mesh as processes: OTLP traces and Prometheus metrics", () => {
  let collector: Awaited<ReturnType<typeof fakeCollector>>;
  let roles: { process: RoleProcess; metrics: string }[];
  let tracing: Tracing;
  const exporter = new InMemorySpanExporter();
  beforeAll(async () => {
    collector = await fakeCollector();
    // The line controller (this process) traces too, so the trace starts at APCS.
    tracing = startTracing("apcs-test", exporter, true)!;
    const env = { METRICS_ADDR: "127.0.0.1:0", OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: "100" };
    const emission = await startObserved("emission-server", { ...env, BLOCK_SIZE: "100" });
    const registrar = await startObserved("registrar", { ...env, EMISSION_SERVER_ADDR: emission.process.address });
    const oms = await startObserved("oms", { ...env, REGISTRAR_ADDR: registrar.process.address });
    roles = [emission, registrar, oms];
  });
  afterAll(async () => {
    await Promise.all((roles ?? []).map((r) => r.process.stop()));
    await tracing?.stop();
    collector?.server.close();
  });

  it("sends one order's spans from all three roles to the collector in one trace, and counts it in each role's metrics", async () => {
    const [emission, , oms] = roles as [(typeof roles)[0], (typeof roles)[0], (typeof roles)[0]];
    const created = /^grpc_server_handled_total\{.*grpc_method="CreateOrder".*grpc_code="OK"/;
    const emitted = /^emission_mesh_codes_emitted_total/;
    const before = { created: await sample(oms.metrics, created), emitted: await sample(emission.metrics, emitted) };

    const apcs = await Apcs.open({
      transport: createDownstreamTransport({ address: parseAddress(oms.process.address), token: TOKENS.apcs, maxMessageBytes: 64 << 20 }),
      log: pino({ level: "silent" }),
    });
    const order = await apcs.placeOrder(milkOrder(250), "e2e-observe-0001");
    await apcs.receiveCodes(order.orderId);
    await apcs.close();

    expect((await sample(oms.metrics, created)) - before.created).toBe(1);
    expect((await sample(emission.metrics, emitted)) - before.emitted).toBe(250);

    const root = exporter.getFinishedSpans().find((s) => s.name === "step 1: form order");
    const traceId = Buffer.from(root!.spanContext().traceId, "hex");
    // SIGTERM flushes what each role still holds.
    await Promise.all(roles.map((r) => r.process.stop()));
    for (const [service, span] of [
      ["oms", "step 14: code array"],
      ["registrar", "step 10.1: store block"],
      ["emission-server", "step 6.1: emit block"],
    ] as const) {
      // The service name as an OTLP string value (AnyValue field 1: tag, length, bytes).
      const named = Buffer.concat([Buffer.from([0x0a, service.length]), Buffer.from(service)]);
      const sent = collector.bodies.filter((b) => b.includes(named) && b.includes(traceId));
      expect(sent.length, service).toBeGreaterThan(0);
      expect(
        sent.some((b) => b.includes(span)),
        `${service}: ${span}`,
      ).toBe(true);
    }
  });
});
