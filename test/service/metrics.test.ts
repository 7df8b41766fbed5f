import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { rejection } from "../support/rejection.js";

type Role = "oms" | "registrar" | "emission";

/** Prometheus text exposition as name → samples (labels and value). */
type Scrape = Map<string, { labels: Record<string, string>; value: number }[]>;

function parse(text: string): Scrape {
  const samples: Scrape = new Map();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const list = samples.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    samples.set(m[1]!, list);
  }
  return samples;
}

/** The sum of the samples of `name` whose labels include `labels`. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const matching = (s.get(name) ?? []).filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return matching.reduce((sum, x) => sum + x.value, 0);
}

describe("Prometheus metrics of each role, scraped over HTTP", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000", METRICS_ADDR: "127.0.0.1:0" });
  });
  afterAll(async () => {
    await mesh.close();
  });

  async function scrape(role: Role): Promise<Scrape> {
    const url = mesh[role].spec.metrics?.servedAt;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return parse(await res.text());
  }
  const scrapeAll = async () => ({ oms: await scrape("oms"), registrar: await scrape("registrar"), emission: await scrape("emission") });

  it("moves the RPC, code, order and store counters of every hop by exactly one order's worth", async () => {
    const before = await scrapeAll();
    const order = await mesh.apcs.placeOrder(milkOrder(250));
    await mesh.apcs.receiveCodes(order.orderId);
    const after = await scrapeAll();
    const moved = (role: Role, name: string, labels: Record<string, string> = {}): number =>
      value(after[role], name, labels) - value(before[role], name, labels);

    const ok = { grpc_code: "OK" };
    expect(moved("oms", "grpc_server_handled_total", { grpc_method: "CreateOrder", ...ok })).toBe(1);
    expect(moved("registrar", "grpc_server_handled_total", { grpc_method: "CreatePool", ...ok })).toBe(1);
    expect(moved("emission", "grpc_server_handled_total", { grpc_method: "CreateEmissionOrder", ...ok })).toBe(1);
    expect(moved("oms", "grpc_server_handling_seconds_count", { grpc_method: "CreateOrder", grpc_type: "unary" })).toBe(1);
    expect(moved("oms", "grpc_server_started_total", { grpc_method: "CreateOrder" })).toBe(1);

    expect(moved("emission", "emission_mesh_codes_emitted_total")).toBe(250);
    expect(moved("registrar", "emission_mesh_codes_stored_total")).toBe(250);
    expect(moved("oms", "emission_mesh_codes_stored_total")).toBe(250);
    for (const role of ["emission", "registrar", "oms"] as const)
      expect(moved(role, "emission_mesh_codes_delivered_total"), role).toBe(250);

    expect(moved("emission", "emission_mesh_orders", { status: "READY" })).toBe(1);
    expect(moved("registrar", "emission_mesh_orders", { status: "READY" })).toBe(1);
    expect(moved("oms", "emission_mesh_orders", { status: "READY" })).toBe(1);
    expect(moved("emission", "emission_mesh_readiness_estimate_error_seconds_count")).toBe(1);
    expect(value(after.emission, "emission_mesh_emission_backlog_codes")).toBe(0);

    for (const role of ["emission", "registrar", "oms"] as const) {
      const orders = role === "registrar" ? "pools" : "orders";
      expect(moved(role, "emission_mesh_store_operation_seconds_count", { collection: orders, operation: "insertOne" }), role).toBe(1);
      expect(value(after[role], "emission_mesh_store_errors_total"), role).toBe(0);
      expect(value(after[role], "emission_mesh_calls_in_flight"), role).toBe(0);
    }
    // Every sample names its role; no label carries an order id.
    expect(after.oms.get("grpc_server_handled_total")?.every((s) => s.labels.role === "oms")).toBe(true);
    for (const samples of after.oms.values()) for (const s of samples) expect(Object.values(s.labels)).not.toContain(order.orderId);
  });

  it("counts a duplicate answered from its stored reply, and a request id reused for another payload", async () => {
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "metrics-dup-0001" };
    const request = { order: milkOrder(10) };
    await oms.createOrder(request, { headers });
    const before = await scrape("oms");
    await oms.createOrder(request, { headers });
    const reused = await rejection(oms.createOrder({ order: milkOrder(20) }, { headers }));
    expect(reused.code).toBe(Code.InvalidArgument);
    const after = await scrape("oms");
    const moved = (name: string, labels: Record<string, string>): number => value(after, name, labels) - value(before, name, labels);
    expect(moved("emission_mesh_replays_total", { grpc_method: "CreateOrder", outcome: "reply" })).toBe(1);
    expect(moved("emission_mesh_request_id_mismatches_total", { grpc_method: "CreateOrder" })).toBe(1);
    expect(moved("grpc_server_handled_total", { grpc_method: "CreateOrder", grpc_code: "InvalidArgument" })).toBe(1);
    expect(moved("grpc_server_handled_total", { grpc_method: "CreateOrder", grpc_code: "OK" })).toBe(1);
  });

  it("counts refused calls by reason, summed over callers, never per call in the journal", async () => {
    const before = await scrape("oms");
    const forged = mesh.omsClient("not-a-token");
    for (let i = 0; i < 3; i++) expect((await rejection(forged.getOrder({ orderId: "x" }))).code).toBe(Code.Unauthenticated);
    const malformed = await rejection(mesh.omsClient().createOrder({ order: milkOrder(10) }, { headers: { "x-request-id": "bad id" } }));
    expect(malformed.code).toBe(Code.InvalidArgument);
    const after = await scrape("oms");
    const moved = (labels: Record<string, string>): number =>
      value(after, "emission_mesh_refusals_total", labels) - value(before, "emission_mesh_refusals_total", labels);
    expect(moved({ reason: "TOKEN_UNKNOWN", grpc_code: "UNAUTHENTICATED" })).toBe(3);
    expect(moved({ reason: "REQUEST_ID_MALFORMED" })).toBe(1);
  });

  it("answers anything but GET /metrics with 404", async () => {
    const url = new URL(mesh.oms.spec.metrics!.servedAt!);
    expect((await fetch(new URL("/other", url))).status).toBe(404);
  });
});
