import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MongoClient } from "mongodb";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { startFerretDb } from "../support/ferretdb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

/**
 * Leases far longer than any test: whatever is taken over here is taken over
 * because its holder's heartbeat stopped, not because a lease ran out.
 */
const ENV = {
  REPLY_LEASE_MS: "600000",
  WORK_LEASE_MS: "600000",
  INSTANCE_HEARTBEAT_MS: "500",
  INSTANCE_DEAD_MS: "2000",
  STREAM_RECHECK_MS: "100",
};

function client<S extends typeof OmsService | typeof EmitterService>(service: S, role: RoleProcess, token: string) {
  const transport = createGrpcTransport({ baseUrl: `http://${role.address}` });
  return {
    call: createClient(service, transport),
    headers: (requestId?: string) => ({
      authorization: `Bearer ${token}`,
      ...(requestId === undefined ? {} : { "x-request-id": requestId }),
    }),
  };
}

/** A "Registrar" that accepts connections and never answers: a call to it hangs for as long as its deadline. */
async function blackHole(): Promise<{ address: string; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function findIn<T>(uri: string, db: string, collection: string): Promise<T[]> {
  const c = await MongoClient.connect(uri);
  try {
    return (await c.db(db).collection(collection).find({}).toArray()) as T[];
  } finally {
    await c.close();
  }
}

describe("take-over of a killed instance's work, on MongoDB (FerretDB)", () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  const started: { stop(signal?: "SIGKILL"): Promise<void> }[] = [];
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await db?.stop();
  });

  it("takes a retried call over from a killed holder once its heartbeat stopped, and never from a slow holder that beats", {
    timeout: 120_000,
  }, async () => {
    const prefix = `takeover-reply-${Date.now()}-`;
    const env = { ...ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix };
    const hole = await blackHole();
    started.push(hole);
    const emission = await startRole("emission-server", env);
    const registrar = await startRole("registrar", { ...env, EMISSION_SERVER_ADDR: emission.address });
    // Two OMS instances on one database; the first calls a Registrar that never answers: a live, slow holder.
    const slow = await startRole("oms", { ...env, REGISTRAR_ADDR: hole.address, CALL_TIMEOUT_MS: "600000" });
    const other = await startRole("oms", { ...env, REGISTRAR_ADDR: registrar.address, DUPLICATE_WAIT_MS: "4000" });
    started.push(emission, registrar, slow, other);
    const a = client(OmsService, slow, TOKENS.apcs);
    const b = client(OmsService, other, TOKENS.apcs);
    const request = { order: milkOrder(100) };
    const first = a.call.createOrder(request, { headers: a.headers("takeover-0001") }).catch((err: unknown) => err);
    // The retransmission at the other instance waits longer than INSTANCE_DEAD_MS for the holder, which beats: no take-over.
    await new Promise((r) => setTimeout(r, 300));
    const waited = await b.call.createOrder(request, { headers: b.headers("takeover-0001") }).catch((err: unknown) => err);
    expect(waited).toBeInstanceOf(ConnectError);
    expect([(waited as ConnectError).code, (waited as ConnectError).rawMessage]).toEqual([
      Code.Unavailable,
      expect.stringMatching(/being processed/),
    ]);
    expect(await findIn(db.uri, `${prefix}oms`, "orders")).toHaveLength(0);
    // The holder dies: the next retransmission takes the call over (the claim's own lease has minutes to run).
    await slow.stop("SIGKILL");
    await first;
    const created = await b.call.createOrder(request, { headers: b.headers("takeover-0001") });
    expect(created.order?.orderId ?? "").not.toBe("");
    expect(await findIn(db.uri, `${prefix}oms`, "orders")).toHaveLength(1);
    expect(await findIn(db.uri, `${prefix}registrar`, "pools")).toHaveLength(1);
  });

  it("hands emission to the other instance once the emitting one's heartbeat stopped, and never while it beats", {
    timeout: 120_000,
  }, async () => {
    const prefix = `takeover-work-${Date.now()}-`;
    const env = { ...ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix, BLOCK_SIZE: "200", EMISSION_RATE: "1000" };
    const holder = await startRole("emission-server", env);
    started.push(holder);
    const [holderRecord] = await findIn<{ _id: string }>(db.uri, `${prefix}emission-server`, "instances");
    const partner = await startRole("emission-server", env);
    started.push(partner);
    const a = client(EmitterService, holder, TOKENS.registrar);
    const b = client(EmitterService, partner, TOKENS.registrar);
    const { orderId } = await a.call.createEmissionOrder(
      { participantId: "7700000001", order: milkOrder(10_000) },
      { headers: a.headers("takeover-work-0001") },
    );
    // For longer than INSTANCE_DEAD_MS, with the partner looking for work every heartbeat, the order stays with its holder.
    const owners = new Set<string>();
    const watchUntil = Date.now() + 3_000;
    while (Date.now() < watchUntil) {
      for (const o of await findIn<{ _id: string; leaseOwner: string }>(db.uri, `${prefix}emission-server`, "orders"))
        owners.add(o.leaseOwner);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...owners]).toEqual([holderRecord?._id]);
    await holder.stop("SIGKILL");
    const codes: string[] = [];
    for await (const r of b.call.streamCodes({ orderId }, { headers: b.headers() })) codes.push(...(r.block?.codes ?? []));
    expect(codes).toHaveLength(10_000);
    expect(new Set(codes).size).toBe(10_000);
    const order = (await b.call.getEmissionOrder({ orderId }, { headers: b.headers() })).order;
    expect(order?.status).toBe(OrderStatus.READY);
    const [stored] = await findIn<{ leaseOwner: string }>(db.uri, `${prefix}emission-server`, "orders");
    expect(stored?.leaseOwner).not.toBe(holderRecord?._id);
    expect(await findIn(db.uri, `${prefix}emission-server-codes`, "serials")).toHaveLength(10_000);
  });

  it("lets a process restarted on a killed instance's address take its emission over at once, long before INSTANCE_DEAD_MS", {
    timeout: 120_000,
  }, async () => {
    const prefix = `takeover-restart-${Date.now()}-`;
    // Ten minutes until the killed instance would count as dead to anyone else.
    const env = {
      ...ENV,
      INSTANCE_DEAD_MS: "600000",
      MONGODB_URI: db.uri,
      MONGODB_DATABASE_PREFIX: prefix,
      BLOCK_SIZE: "200",
      EMISSION_RATE: "2000",
    };
    const killed = await startRole("emission-server", env);
    started.push(killed);
    const a = client(EmitterService, killed, TOKENS.registrar);
    const { orderId } = await a.call.createEmissionOrder(
      { participantId: "7700000001", order: milkOrder(6_000) },
      { headers: a.headers("takeover-restart-0001") },
    );
    await killed.stop("SIGKILL");
    const restarted = await startRole("emission-server", env, killed.port);
    started.push(restarted);
    const b = client(EmitterService, restarted, TOKENS.registrar);
    const codes: string[] = [];
    for await (const r of b.call.streamCodes({ orderId }, { headers: b.headers() })) codes.push(...(r.block?.codes ?? []));
    expect(new Set(codes).size).toBe(6_000);
    const [stored] = await findIn<{ leaseOwner: string }>(db.uri, `${prefix}emission-server`, "orders");
    const records = await findIn<{ _id: string; address?: string }>(db.uri, `${prefix}emission-server`, "instances");
    expect(records.find((r) => r._id === stored?.leaseOwner)?.address).toMatch(new RegExp(`:${killed.port}$`));
  });
});
