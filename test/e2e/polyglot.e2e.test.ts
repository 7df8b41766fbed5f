import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExample, type ExampleLanguage, type ScenarioResult } from "../support/example-clients.js";
import { startMesh, startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

const LANGUAGES: readonly ExampleLanguage[] = ["python", "go"];

let mesh: Awaited<ReturnType<typeof startMesh>>;
let busy: RoleProcess;
beforeAll(async () => {
  // Small blocks, so an order of 45 codes travels in 5 blocks and the stream can be cut midway.
  mesh = await startMesh({ BLOCK_SIZE: "10" });
  // An OMS that takes one call at a time refuses the others with RESOURCE_EXHAUSTED.
  busy = await startRole("oms", { REGISTRAR_ADDR: mesh.registrar.address, MAX_IN_FLIGHT: "1", RETRY_HINT_MS: "400" });
});
afterAll(async () => {
  await busy?.stop();
  await mesh?.stop();
});

/** The one result of a scenario an example ran. */
async function scenario(language: ExampleLanguage, oms: string, name: string, flags: readonly string[] = []): Promise<ScenarioResult> {
  const result = (await runExample(language, { oms, token: TOKENS.apcs, flags, scenarios: [name] })).get(name);
  if (result === undefined) throw new Error(`the ${language} example printed no ${name} result`);
  return result;
}

describe.each(LANGUAGES)("the %s example client (examples/) against a real mesh", (language) => {
  it("places an order, streams its codes resuming after a cut, acknowledges and closes it", async () => {
    const r = await scenario(language, mesh.oms.address, "order", ["--quantity", "45"]);
    expect(r.orderId).toMatch(/.+/);
    expect(r.codes).toBe(45);
    expect(r.uniqueCodes).toBe(45);
    // Cut after block 1, resumed after it: every block once, in order.
    expect(r.resumedAfter).toBe(1);
    expect(r.blocks).toEqual([1, 2, 3, 4, 5]);
    expect(r.lastBlock).toBe(true);
    expect(r.deliveredCodes).toBe(45);
    expect(r.status).toBe("ORDER_STATUS_CLOSED");
  });

  it("decodes the google.rpc.Status details of a refused order: BadRequest and ErrorInfo", async () => {
    const r = await scenario(language, mesh.oms.address, "errors");
    expect(r.code).toBeOneOf(["FAILED_PRECONDITION", "INVALID_ARGUMENT"]);
    expect(r.fieldViolations).toEqual(expect.arrayContaining([expect.objectContaining({ field: "order.products[0].gtin" })]));
    const info = r.errorInfo as { reason: string; domain: string; step: string };
    expect(info.domain).toBe("emission-mesh");
    expect(info.reason).toBeOneOf(["ORDER_REJECTED", "REQUEST_INVALID"]);
    expect(info.step).toMatch(/^\d+(\.\d+)?$/);
  });

  it("calls GetOrder with descriptors from server reflection alone", async () => {
    const r = await scenario(language, mesh.oms.address, "reflect");
    expect(r.method).toBe("emission.oms.v1.OmsService.GetOrder");
    const reply = r.reply as { order: { orderId: string; productGroup: string } };
    expect(reply.order.orderId).toMatch(/.+/);
    expect(reply.order.productGroup).toBe("PRODUCT_GROUP_MILK");
  });

  it("has calls an overloaded OMS refused retried by the library's own retry policy, each placing one order", async () => {
    const calls = 4;
    const r = await scenario(language, busy.address, "retry", ["--calls", String(calls)]);
    expect(r.failed).toEqual([]);
    expect(r.succeeded).toBe(calls);
    expect(r.distinctOrders).toBe(calls);
    // More attempts than calls: the library sent refused calls again by itself.
    expect(r.attempts).toBeGreaterThan(calls);
  });
});

/** One HTTP/2 cleartext request, as `curl --http2-prior-knowledge` sends it. */
async function h2(
  address: string,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const session = http2.connect(`http://${address}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request(headers);
      const chunks: Buffer[] = [];
      let status = 0;
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ status, json: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> }));
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

describe("the OMS over the Connect protocol with JSON, as the README's curl commands call it", () => {
  const auth = { authorization: `Bearer ${TOKENS.apcs}` };
  const order = (gtin: string) =>
    JSON.stringify({
      order: {
        productGroup: "PRODUCT_GROUP_MILK",
        releaseMethodType: "RELEASE_METHOD_TYPE_PRODUCTION",
        productionOrderId: `po-curl-${gtin}`,
        products: [{ gtin, quantity: 25, serialNumberType: "SERIAL_NUMBER_TYPE_OPERATOR", templateId: 6, cisType: "CIS_TYPE_UNIT" }],
      },
    });
  const post = (method: string, requestId: string, body: string) =>
    h2(
      mesh.oms.address,
      {
        ":method": "POST",
        ":path": `/emission.oms.v1.OmsService/${method}`,
        "content-type": "application/json",
        "x-request-id": requestId,
        ...auth,
      },
      body,
    );

  it("places an order with a JSON POST and reads it back with a GET", async () => {
    const created = await post("CreateOrder", "curl-order-0001", order("04600000000015"));
    expect(created.status).toBe(200);
    const orderId = (created.json.order as { orderId: string }).orderId;
    const query = new URLSearchParams({ connect: "v1", encoding: "json", message: JSON.stringify({ orderId }) });
    const got = await h2(mesh.oms.address, {
      ":method": "GET",
      ":path": `/emission.oms.v1.OmsService/GetOrder?${query.toString()}`,
      ...auth,
    });
    expect(got.status).toBe(200);
    expect(got.json.order).toMatchObject({ orderId, productGroup: "PRODUCT_GROUP_MILK", totalCodes: "25" });
  });

  it("answers a refused order with an HTTP error whose JSON carries the google.rpc details", async () => {
    const refused = await post("CreateOrder", "curl-order-0002", order("04600000000010"));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.json.code).toBeOneOf(["failed_precondition", "invalid_argument"]);
    const types = (refused.json.details as { type: string }[]).map((d) => d.type);
    expect(types).toEqual(expect.arrayContaining(["google.rpc.BadRequest", "google.rpc.ErrorInfo"]));
  });
});
