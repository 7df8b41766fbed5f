import { MongoClient } from "mongodb";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { startFerretDb } from "../support/ferretdb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { startBalancer } from "../support/tcp-balancer.js";
import { QUICK_TAKE_OVER_ENV, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

async function count(uri: string, db: string, collection: string): Promise<number> {
  const client = await MongoClient.connect(uri);
  try {
    return await client.db(db).collection(collection).countDocuments();
  } finally {
    await client.close();
  }
}

describe("two instances of each role on one MongoDB (FerretDB)", () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  const started: RoleProcess[] = [];
  const balancers: { stop(): Promise<void> }[] = [];
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await Promise.all(balancers.map((b) => b.stop()));
    await db?.stop();
  });

  // Generous time: six processes, two balancers and FerretDB share two cores with the rest of the suite.
  it("emits and delivers every code once while orders go in through one instance and out through the other, and one instance of each role dies", {
    timeout: 180_000,
  }, async () => {
    const prefix = `two-${Date.now()}-`;
    const env = { ...QUICK_TAKE_OVER_ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix };
    const start = async (role: "emission-server" | "registrar" | "oms", extra: Record<string, string> = {}) => {
      const r = await startRole(role, { ...env, ...extra });
      started.push(r);
      return r;
    };
    // Each pair behind a load balancer, as a deployment would have it.
    const e = [await start("emission-server"), await start("emission-server")];
    const eLb = await startBalancer(e.map((x) => x.address));
    const r = [
      await start("registrar", { EMISSION_SERVER_ADDR: eLb.address }),
      await start("registrar", { EMISSION_SERVER_ADDR: eLb.address }),
    ];
    const rLb = await startBalancer(r.map((x) => x.address));
    const o = [await start("oms", { REGISTRAR_ADDR: rLb.address }), await start("oms", { REGISTRAR_ADDR: rLb.address })];
    balancers.push(eLb, rLb);
    const line = new MemoryStore();
    const apcs = await Promise.all(
      o.map((oms) =>
        Apcs.open({
          transport: createDownstreamTransport({ address: parseAddress(oms.address), token: TOKENS.apcs, maxMessageBytes: 64 << 20 }),
          log: silent,
          store: line,
          callTimeoutMs: 2_000,
          retransmit: { attempts: 40, initialBackoffMs: 100, maxBackoffMs: 500 },
        }),
      ),
    );
    try {
      const orders = await Promise.all([apcs[0]!.placeOrder(milkOrder(6_000)), apcs[0]!.placeOrder(milkOrder(6_000))]);
      // The instances that took the orders die: their partners carry the work on.
      await Promise.all([e[0]!.stop("SIGKILL"), r[0]!.stop("SIGKILL")]);
      const codes = new Set<string>();
      for (const order of orders) {
        const saved = await apcs[1]!.receiveCodes(order.orderId);
        expect(saved.storedCodes).toBe(6_000);
        for await (const block of apcs[1]!.codes(order.orderId)) for (const c of block.codes) codes.add(c);
      }
      expect(codes.size).toBe(12_000);
      expect(await count(db.uri, `${prefix}emission-server`, "orders")).toBe(2);
      expect(await count(db.uri, `${prefix}emission-server-codes`, "blocks")).toBe(24);
      expect(await count(db.uri, `${prefix}registrar`, "pools")).toBe(2);
      expect(await count(db.uri, `${prefix}oms`, "orders")).toBe(2);
      for (const order of orders) expect((await apcs[1]!.getOrder(order.orderId)).deliveredCodes).toBe(6_000n);
    } finally {
      await Promise.all(apcs.map((a) => a.close()));
    }
  });
});
