import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { createConnectTransport } from "@connectrpc/connect-node";
import http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import { reasonOf } from "../../src/core/rpc/error-info.js";
import { ORDER_MESSAGE_BYTES } from "../../src/core/rpc/message-limits.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { JournalService, type JournalEntry } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { CreateOrderRequestSchema, GetOrderRequestSchema, OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { milkOrder } from "../support/orders.js";
import { startMesh, startRole, type RoleProcess } from "../support/processes.js";
import { rejection } from "../support/rejection.js";
import { grpcJsUnary } from "../support/grpc-js-client.js";
import { grpcFrame, grpcStatusOf, rawGrpcCall, type RawGrpcReply } from "../support/raw-grpc.js";
import { TEST_ENV, TOKENS } from "../support/test-config.js";

const MiB = 1024 * 1024;
const CREATE_ORDER = "/emission.oms.v1.OmsService/CreateOrder";
const APCS = { authorization: `Bearer ${TOKENS.apcs}` };

/** What each role logged, line by line. */
const logs: Record<"emission" | "registrar" | "oms", string[]> = { emission: [], registrar: [], oms: [] };

function journal(p: RoleProcess): Client<typeof JournalService> {
  return createClient(
    JournalService,
    createDownstreamTransport({ address: parseAddress(p.address), token: TOKENS.admin, maxMessageBytes: 64 * MiB }),
  );
}

async function entries(p: RoleProcess): Promise<JournalEntry[]> {
  return (await journal(p).listJournal({ pageSize: 1000 })).entries;
}

/** The ErrorInfo reason and step a raw gRPC reply carries in grpc-status-details-bin. */
function errorInfoOf(reply: RawGrpcReply): { reason: string; step: string | undefined } | undefined {
  const bin = (reply.trailers ?? reply.headers)["grpc-status-details-bin"];
  if (typeof bin !== "string") return undefined;
  const status = fromBinary(StatusSchema, Buffer.from(bin, "base64"));
  for (const any of status.details) {
    const info = anyUnpack(any, ErrorInfoSchema);
    if (info !== undefined) return { reason: info.reason, step: info.metadata.step };
  }
  return undefined;
}

/**
 * Sends a request body and gives back the status as soon as it comes, not
 * waiting until the body is sent: a refusal of an oversized request comes
 * before the client could send it. The session may buffer the whole body
 * (node's default of 10 MB would reset the stream on the client's side).
 */
function statusOnArrival(address: string, body: Buffer, headers: Record<string, string>): Promise<RawGrpcReply> {
  const session = http2.connect(`http://${address}`, { maxSessionMemory: 1_000 });
  return new Promise<RawGrpcReply>((resolve, reject) => {
    session.once("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": CREATE_ORDER,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const reply: RawGrpcReply = { headers: {}, headersEndStream: false, data: Buffer.alloc(0), trailers: undefined, headersFrames: 0 };
    stream.once("response", (h, flags) => {
      Object.assign(reply, { headers: h, headersFrames: 1, headersEndStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 });
      if (reply.headersEndStream) resolve(reply);
    });
    stream.once("trailers", (t) => resolve({ ...reply, trailers: t, headersFrames: 2 }));
    stream.once("error", reject);
    stream.end(body);
  }).finally(() => session.destroy());
}

/** A protobuf length-delimited field: tag, varint length, bytes. */
function delimited(field: number, bytes: Buffer): Buffer {
  const varint: number[] = [];
  for (let n = bytes.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 128);
  }
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint]), bytes]);
}

/** A gRPC frame of a CreateOrderRequest whose one product carries `count` 20-character serials, built without 3 million strings. */
function serialFlood(count: number): Buffer {
  const serial = delimited(4, Buffer.from("S".repeat(20)));
  const product = delimited(4, Buffer.alloc(count * serial.length, serial));
  const body = delimited(1, product);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function createOrderFrame(productionOrderId: string): Buffer {
  const order = milkOrder(10);
  order.productionOrderId = productionOrderId;
  return grpcFrame(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { order }));
}

/** Runs a role's program as it would start in production and gives back all it printed. */
function startOutput(role: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const entry = fileURLToPath(new URL(`../../dist/${role}/server.js`, import.meta.url));
  const child = spawn(process.execPath, [entry, `--${role}`, "127.0.0.1:0"], {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, ...env },
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, output })));
}

describe("a mesh facing hostile input (real processes)", () => {
  let emission: RoleProcess;
  let registrar: RoleProcess;
  let oms: RoleProcess;
  let apcs: Apcs;

  beforeAll(async () => {
    emission = await startRole("emission-server", {}, 0, (l) => logs.emission.push(l));
    registrar = await startRole("registrar", { EMISSION_SERVER_ADDR: emission.address }, 0, (l) => logs.registrar.push(l));
    // Refusals are journaled per cause every 300 ms here (60 s by default).
    oms = await startRole("oms", { REGISTRAR_ADDR: registrar.address, REFUSAL_WINDOW_MS: "300" }, 0, (l) => logs.oms.push(l));
    apcs = await Apcs.open({
      transport: createDownstreamTransport({ address: parseAddress(oms.address), token: TOKENS.apcs, maxMessageBytes: 64 * MiB }),
      log: pino({ level: "silent" }),
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([oms?.stop(), registrar?.stop(), emission?.stop()]);
  });

  it("refuses a 40 MiB production_order_id and a 60 MiB serial list at OMS with RESOURCE_EXHAUSTED before reading them, while a well-behaved line is served", async () => {
    const hostileId = `HOSTILE-ID-${"x".repeat(40 * MiB)}`;
    const started = Date.now();
    const [bigId, bigSerials, good] = await Promise.all([
      statusOnArrival(oms.address, createOrderFrame(hostileId), { ...APCS, "x-request-id": "hostile-big-id-1" }),
      statusOnArrival(oms.address, serialFlood(Math.ceil((60 * MiB) / 22)), { ...APCS, "x-request-id": "hostile-serials-1" }),
      apcs.placeOrder(milkOrder(20)),
    ]);
    // Not read whole: refused on the 5-byte envelope header (a generous bound; reading 100 MiB through three hops took 11-27 s).
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const reply of [bigId, bigSerials]) {
      expect(grpcStatusOf(reply)).toBe("8"); // RESOURCE_EXHAUSTED
      expect(errorInfoOf(reply)?.reason).toBe("MESSAGE_TOO_LARGE");
    }
    expect(good.status).toBe(OrderStatus.APPROVED);
    // The roles below never saw either request.
    expect(await entries(registrar)).toEqual([]);
    expect(await entries(emission)).toEqual([]);
    for (const line of [...logs.registrar, ...logs.emission, ...logs.oms]) expect(line).not.toContain("HOSTILE-ID");
  });

  it("refuses a 20 MiB production_order_id within the read limit at OMS's step 2, journaling only its first 128 characters", async () => {
    const hostileId = `HOSTILE-20-${"y".repeat(20 * MiB)}`;
    expect(hostileId.length).toBeLessThan(ORDER_MESSAGE_BYTES);
    const reply = await rawGrpcCall(oms.address, CREATE_ORDER, createOrderFrame(hostileId), {
      ...APCS,
      "x-request-id": "hostile-mid-id-1",
    });
    expect(grpcStatusOf(reply)).toBe("3"); // INVALID_ARGUMENT
    expect(errorInfoOf(reply)).toEqual({ reason: "REQUEST_INVALID", step: "2" });
    const [entry] = (await entries(oms)).filter((e) => e.requestId === "hostile-mid-id-1");
    expect(entry?.step).toBe("2.1");
    expect(entry?.orderId.startsWith("HOSTILE-20-")).toBe(true);
    expect(entry!.orderId.length).toBeLessThan(200);
    expect(await entries(registrar)).toEqual([]);
    expect(await entries(emission)).toEqual([]);
    for (const line of logs.oms) expect(line.length).toBeLessThan(8_192);
  });

  it("keeps nothing of unauthenticated calls with huge or malformed headers but one journal entry per cause, with the count", async () => {
    const before = await entries(oms);
    const hostile = (n: number) => `HOSTILE-RID-${n}-${"z".repeat(10_000)}`;
    const frame = createOrderFrame("po-no-token");
    const calls = [
      // No token, a 10 KB x-request-id.
      ...Array.from({ length: 30 }, (_, n) => rawGrpcCall(oms.address, CREATE_ORDER, frame, { "x-request-id": hostile(n) })),
      // A forged token, a malformed x-request-id (spaces, control-free but not the request-id alphabet).
      ...Array.from({ length: 20 }, (_, n) =>
        rawGrpcCall(oms.address, CREATE_ORDER, frame, { authorization: `Bearer forged-${n}`, "x-request-id": `HOSTILE-RID bad ${n}` }),
      ),
    ];
    const replies = await Promise.all(calls);
    for (const reply of replies) expect(grpcStatusOf(reply)).toBe("16"); // UNAUTHENTICATED
    // Each window of 0.3 s ends with one entry per cause carrying its count (the calls may straddle two windows).
    const counts = (list: JournalEntry[]) => {
      const by: Record<string, number> = {};
      for (const e of list) {
        const m = /^(\d+) calls? refused \(([A-Z_]+)\)/.exec(e.message);
        if (m !== null) by[m[2] ?? ""] = (by[m[2] ?? ""] ?? 0) + Number(m[1]);
      }
      return by;
    };
    let added: JournalEntry[] = [];
    for (let i = 0; i < 50 && JSON.stringify(counts(added)) !== JSON.stringify({ TOKEN_MISSING: 30, TOKEN_UNKNOWN: 20 }); i++) {
      await new Promise((r) => setTimeout(r, 100));
      added = (await entries(oms)).filter((e) => !before.some((b) => b.id === e.id));
    }
    expect(counts(added)).toEqual({ TOKEN_MISSING: 30, TOKEN_UNKNOWN: 20 });
    expect(added.length).toBeLessThanOrEqual(4);
    for (const e of added)
      expect([e.step, e.code, e.requestId, e.participantId, e.orderId]).toEqual(["auth", "UNAUTHENTICATED", "", "", ""]);
    // Nothing the callers sent was logged either: one line per cause and window, from the journal.
    expect(logs.oms.filter((l) => l.includes("HOSTILE-RID"))).toEqual([]);
    expect(logs.oms.filter((l) => l.includes("refused (TOKEN_")).length).toBe(added.length);
  });

  it("names a malformed MESH_TOKENS entry by its position at start-up, never printing the token", async () => {
    const secret = "Sup3rSecretTokenValue";
    const { code, output } = await startOutput("oms", { MESH_TOKENS: `${TOKENS.apcs}=apcs:7700000001,${secret}=apcs:1:2` });
    expect(code).not.toBe(0);
    expect(output).toContain("MESH_TOKENS entry 2 of 2");
    expect(output).not.toContain(secret);
  });
});

describe("string fields at the edge of the mesh (real processes)", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  let oms: Client<typeof OmsService>;

  beforeAll(async () => {
    mesh = await startMesh();
    oms = createClient(
      OmsService,
      createDownstreamTransport({ address: parseAddress(mesh.oms.address), token: TOKENS.apcs, maxMessageBytes: 64 * MiB }),
    );
  }, 60_000);

  afterAll(async () => {
    await mesh?.stop();
  });

  it("refuses a create_request_id over its 128 characters (INVALID_ARGUMENT) and a 100 KB one for its size (MESSAGE_TOO_LARGE), keeping no cancel mark", async () => {
    const long = await rejection(
      oms.cancelOrder({ createRequestId: "c".repeat(1_000) }, { headers: { "x-request-id": "hostile-cancel-1" } }),
    );
    expect([long.code, fieldViolationsOf(long).map((v) => v.field)]).toEqual([Code.InvalidArgument, ["create_request_id"]]);
    const huge = await rejection(
      oms.cancelOrder({ createRequestId: "c".repeat(100_000) }, { headers: { "x-request-id": "hostile-cancel-2" } }),
    );
    expect([huge.code, reasonOf(huge)]).toEqual([Code.ResourceExhausted, "MESSAGE_TOO_LARGE"]);
    // The same refusal over the Connect protocol (JSON, as curl sends it) carries the same ErrorInfo.
    const overConnect = createClient(
      OmsService,
      createConnectTransport({
        baseUrl: `http://${mesh.oms.address}`,
        httpVersion: "2",
        useBinaryFormat: false,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${TOKENS.apcs}`);
            return next(req);
          },
        ],
      }),
    );
    const json = await rejection(
      overConnect.cancelOrder({ createRequestId: "c".repeat(100_000) }, { headers: { "x-request-id": "hostile-cancel-3" } }),
    );
    expect([json.code, reasonOf(json)]).toEqual([Code.ResourceExhausted, "MESSAGE_TOO_LARGE"]);
    // A CreateOrder with that request id is not taken for cancelled: no mark was kept.
    const order = await oms.createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": "c".repeat(128) } });
    expect(order.order?.status).toBe(OrderStatus.APPROVED);
  });

  it("tells a @grpc/grpc-js client a 100 KB GetOrder is MESSAGE_TOO_LARGE and a 10 MiB production_order_id INVALID_ARGUMENT, and serves its connection after", async () => {
    const client = new grpc.Client(mesh.oms.address, grpc.credentials.createInsecure());
    try {
      const auth = { authorization: `Bearer ${TOKENS.apcs}` };
      const spec = milkOrder(5);
      spec.productionOrderId = "p".repeat(10 * MiB);
      const err = (await grpcJsUnary(
        client,
        OmsService.method.getOrder,
        create(GetOrderRequestSchema, { orderId: "o".repeat(100_000) }),
        auth,
      ).then(
        () => undefined,
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const status = fromBinary(StatusSchema, err.metadata.get("grpc-status-details-bin")[0] as Buffer);
      expect(status.details.map((d) => anyUnpack(d, ErrorInfoSchema)?.reason)).toContain("MESSAGE_TOO_LARGE");
      const big = (await grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: spec }), {
        ...auth,
        "x-request-id": "grpc-js-big-1",
      }).then(
        () => undefined,
        (e: unknown) => e,
      )) as grpc.ServiceError;
      // Within the 32 MiB read limit: refused by OMS's step 2 for its length.
      expect(big.code).toBe(grpc.status.INVALID_ARGUMENT);
      const ok = await grpcJsUnary(client, OmsService.method.createOrder, create(CreateOrderRequestSchema, { order: milkOrder(5) }), {
        ...auth,
        "x-request-id": "grpc-js-after-1",
      });
      expect(ok.order?.status).toBe(OrderStatus.APPROVED);
    } finally {
      client.close();
    }
  });
});
