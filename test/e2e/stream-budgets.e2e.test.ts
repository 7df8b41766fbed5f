import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { reasonOf } from "../../src/core/rpc/error-info.js";
import { retryHintOf } from "../../src/core/rpc/retry-hint.js";
import { rejection } from "../support/rejection.js";
import http2 from "node:http2";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { CreateOrderRequestSchema, OmsService, WatchOrderRequestSchema } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { HealthCheckRequestSchema } from "../../src/gen/grpc/health/v1/health_pb.js";
import { grpcJsServerStream, grpcJsUnary } from "../support/grpc-js-client.js";
import { milkOrder } from "../support/orders.js";
import { startMesh } from "../support/processes.js";
import { grpcFrame, rawGrpcCall } from "../support/raw-grpc.js";
import { PARTICIPANT, TOKENS } from "../support/test-config.js";

/** Small budgets, so a flood is a few dozen streams, not thousands. */
const PER_PARTICIPANT = 24;
const INFRA_PER_CONNECTION = 4;
const PER_CONNECTION = 2_400;
const HEALTH_WATCH = "/grpc.health.v1.Health/Watch";

type Mesh = Awaited<ReturnType<typeof startMesh>>;

/** Streams refused for their budget, as OMS journaled them per window (step overload), by participant. */
async function streamRefusals(mesh: Mesh, participantId: string, expected: number): Promise<number> {
  const journal = createClient(
    JournalService,
    createDownstreamTransport({ address: parseAddress(mesh.oms.address), token: TOKENS.admin, maxMessageBytes: 4 * 1024 * 1024 }),
  );
  let total = 0;
  for (let i = 0; i < 50 && total < expected; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const { entries } = await journal.listJournal({ step: "overload", pageSize: 1000 });
    total = entries
      .filter((e) => e.participantId === participantId)
      .map((e) => /^(\d+) calls? refused \(STREAMS_EXHAUSTED\)/.exec(e.message)?.[1])
      .reduce((n, c) => n + Number(c ?? 0), 0);
  }
  return total;
}

function apcsFor(mesh: Mesh, token: string): Promise<Apcs> {
  return Apcs.open({
    transport: createDownstreamTransport({ address: parseAddress(mesh.oms.address), token, maxMessageBytes: 64 * 1024 * 1024 }),
    log: pino({ level: "silent" }),
  });
}

/** A WatchOrder through grpc-js: resolves with its first status once admitted, or with the error it was refused with. */
function watch(client: grpc.Client, orderId: string, token: string) {
  const { call, done } = grpcJsServerStream(client, OmsService.method.watchOrder, create(WatchOrderRequestSchema, { orderId }), {
    authorization: `Bearer ${token}`,
  });
  const first = new Promise<{ ok: true } | { ok: false; error: grpc.ServiceError }>((resolve) => {
    call.once("data", () => resolve({ ok: true }));
    void done.then((r) => resolve(r.error === undefined ? { ok: true } : { ok: false, error: r.error }));
  });
  return { call, first };
}

/** One stream on a raw HTTP/2 session: how it began (a message, or a Trailers-Only status). */
function rawStream(session: http2.ClientHttp2Session, path: string, body: Buffer, headers: Record<string, string> = {}) {
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
  stream.end(body);
  const began = new Promise<{ status: string | undefined; pushback: string | undefined }>((resolve, reject) => {
    stream.once("response", (h) => {
      const status = h["grpc-status"];
      if (status !== undefined) resolve({ status: String(status), pushback: h["grpc-retry-pushback-ms"] as string | undefined });
    });
    stream.once("data", () => resolve({ status: undefined, pushback: undefined }));
    stream.once("error", reject);
  });
  return { stream, began };
}

describe("stream budgets per participant and per connection (real processes)", () => {
  let mesh: Mesh;
  let b: Apcs;

  beforeAll(async () => {
    mesh = await startMesh({
      MAX_STREAMS_PER_PARTICIPANT: String(PER_PARTICIPANT),
      MAX_INFRA_STREAMS_PER_CONNECTION: String(INFRA_PER_CONNECTION),
      MAX_STREAMS_PER_CONNECTION: String(PER_CONNECTION),
      REFUSAL_WINDOW_MS: "200",
    });
    b = await apcsFor(mesh, TOKENS.apcsOther);
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await mesh?.stop();
  });

  it("refuses participant A's streams past its budget at once (RESOURCE_EXHAUSTED, retry hint) while participant B opens WatchOrder and StreamCodes", async () => {
    const client = new grpc.Client(mesh.oms.address, grpc.credentials.createInsecure());
    // A's order placed by a bare client: the APCS library would hold streams of its own.
    const placed = await grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: milkOrder(10) }), {
      authorization: `Bearer ${TOKENS.apcs}`,
      "x-request-id": "stream-budget-a-0001",
    });
    const order = { orderId: placed.order?.orderId ?? "" };
    const held: ReturnType<typeof watch>[] = [];
    try {
      for (let i = 0; i < PER_PARTICIPANT; i++) held.push(watch(client, order.orderId, TOKENS.apcs));
      for (const w of held) expect(await w.first).toEqual({ ok: true });
      const refused = await Promise.all([1, 2, 3].map(() => watch(client, order.orderId, TOKENS.apcs).first));
      for (const r of refused) {
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        expect(Number(r.error.metadata.get("grpc-retry-pushback-ms")[0])).toBeGreaterThan(0);
      }
      // Over the Connect protocol the refusal is the stream's end message, with the same reason and hint.
      const overConnect = createClient(OmsService, createConnectTransport({ baseUrl: `http://${mesh.oms.address}`, httpVersion: "2" }));
      const connectRefusal = await rejection(
        (async () => {
          for await (const _ of overConnect.watchOrder({ orderId: order.orderId }, { headers: { authorization: `Bearer ${TOKENS.apcs}` } }))
            break;
        })(),
      );
      expect([connectRefusal.code, reasonOf(connectRefusal), retryHintOf(connectRefusal) !== undefined]).toEqual([
        Code.ResourceExhausted,
        "STREAMS_EXHAUSTED",
        true,
      ]);
      expect(await streamRefusals(mesh, PARTICIPANT, 4)).toBe(4);
      // B, meanwhile: an order placed, watched and its codes streamed, each within a second.
      const started = Date.now();
      const theirs = await b.placeOrder(milkOrder(10));
      const bWatch = watch(client, theirs.orderId, TOKENS.apcsOther);
      expect(await bWatch.first).toEqual({ ok: true });
      bWatch.call.cancel();
      expect((await b.receiveCodes(theirs.orderId)).storedCodes).toBe(10);
      expect(Date.now() - started).toBeLessThan(3_000);
      // A closed a stream: a slot is free again.
      held.pop()?.call.cancel();
      await new Promise((r) => setTimeout(r, 100));
      const again = watch(client, order.orderId, TOKENS.apcs);
      expect(await again.first).toEqual({ ok: true });
      held.push(again);
    } finally {
      for (const w of held) w.call.cancel();
      client.close();
    }
  });

  it("bounds health Watch streams without a token per connection, counts the refusals, and tells the client its limits in SETTINGS", async () => {
    const session = http2.connect(`http://${mesh.oms.address}`);
    const other = http2.connect(`http://${mesh.oms.address}`);
    try {
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(PER_CONNECTION);
      expect(session.remoteSettings.maxHeaderListSize).toBe(16 * 1024);
      const body = grpcFrame(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" }));
      const open = Array.from({ length: INFRA_PER_CONNECTION }, () => rawStream(session, HEALTH_WATCH, body));
      for (const s of open) expect((await s.began).status).toBeUndefined(); // a SERVING message: admitted
      const refused = await Promise.all([1, 2].map(() => rawStream(session, HEALTH_WATCH, body).began));
      for (const r of refused) {
        expect(r.status).toBe("8");
        expect(Number(r.pushback)).toBeGreaterThan(0);
      }
      expect(await streamRefusals(mesh, "", 2)).toBe(2);
      // Another connection has its own bound.
      expect((await rawStream(other, HEALTH_WATCH, body).began).status).toBeUndefined();
      // A closed watch frees its slot.
      open[0]?.stream.close();
      await new Promise((r) => setTimeout(r, 100));
      expect((await rawStream(session, HEALTH_WATCH, body).began).status).toBeUndefined();
    } finally {
      session.destroy();
      other.destroy();
    }
  });

  it("resets a call whose headers are over 16 KiB before any of it is read, and serves the next", async () => {
    const body = grpcFrame(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" }));
    const session = http2.connect(`http://${mesh.oms.address}`);
    try {
      // The limit holds once the client acknowledged the server's SETTINGS (before, nghttp2's default of 64 KiB does).
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      await new Promise<void>((resolve) => session.ping(() => resolve()));
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/grpc",
        "x-pad": "p".repeat(20_000),
      });
      let answered = false;
      stream.once("response", () => (answered = true));
      const closed = new Promise((resolve) => stream.once("close", resolve));
      stream.on("error", () => undefined);
      stream.end(body);
      await closed;
      expect([answered, stream.rstCode]).toEqual([false, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
    } finally {
      session.destroy();
    }
    const ok = await rawGrpcCall(mesh.oms.address, "/grpc.health.v1.Health/Check", body, { "x-pad": "p".repeat(1_000) });
    expect(ok.trailers?.["grpc-status"]).toBe("0");
  });
});
