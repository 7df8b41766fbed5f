import { MongoClient } from "mongodb";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { startFerretDb } from "../support/ferretdb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess, type ServerRole } from "../support/processes.js";
import { startBalancer } from "../support/tcp-balancer.js";
import { TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

/**
 * Leases and the time to count an instance dead far longer than the test:
 * whatever moves to the second instance moves because the first one let go
 * of it when it shut down, not because something ran out.
 */
const ENV = {
  WORK_LEASE_MS: "600000",
  REPLY_LEASE_MS: "600000",
  INSTANCE_HEARTBEAT_MS: "500",
  INSTANCE_DEAD_MS: "600000",
  STREAM_RECHECK_MS: "100",
  BLOCK_SIZE: "500",
  EMISSION_RATE: "1500",
  CALL_TIMEOUT_MS: "5000",
  SHUTDOWN_GRACE_MS: "30000",
};

const CODES = 15_000;

async function count(uri: string, db: string, collection: string): Promise<number> {
  const client = await MongoClient.connect(uri);
  try {
    return await client.db(db).collection(collection).countDocuments();
  } finally {
    await client.close();
  }
}

/** A role process with every log line it wrote, parsed. */
interface Watched {
  role: RoleProcess;
  logs: Record<string, unknown>[];
}

describe("graceful shutdown (SIGTERM) of two instances per role on MongoDB (FerretDB)", () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  const started: RoleProcess[] = [];
  const balancers: { stop(): Promise<void> }[] = [];
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop("SIGKILL")));
    await Promise.all(balancers.map((b) => b.stop()));
    await db?.stop();
  });

  it("loses and duplicates no code when the instances serving a large order stop mid-stream, and the line's stream resumes at the others", {
    timeout: 240_000,
  }, async () => {
    const prefix = `graceful-${Date.now()}-`;
    const env = { ...ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix };
    const start = async (role: ServerRole, extra: Record<string, string> = {}): Promise<Watched> => {
      const logs: Record<string, unknown>[] = [];
      const r = await startRole(role, { ...env, ...extra }, 0, (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
      started.push(r);
      return { role: r, logs };
    };
    // Each pair behind a balancer; the first instance of each role is started first, so the first
    // connection to each balancer (its readiness probe, or the line's) reaches it: the order's path.
    const e = [await start("emission-server"), await start("emission-server")];
    const eLb = await startBalancer(e.map((x) => x.role.address));
    const r = [
      await start("registrar", { EMISSION_SERVER_ADDR: eLb.address }),
      await start("registrar", { EMISSION_SERVER_ADDR: eLb.address }),
    ];
    const rLb = await startBalancer(r.map((x) => x.role.address));
    const o = [await start("oms", { REGISTRAR_ADDR: rLb.address }), await start("oms", { REGISTRAR_ADDR: rLb.address })];
    const oLb = await startBalancer(o.map((x) => x.role.address));
    balancers.push(eLb, rLb, oLb);
    const apcs = await Apcs.open({
      transport: createDownstreamTransport({ address: parseAddress(oLb.address), token: TOKENS.apcs, maxMessageBytes: 64 << 20 }),
      log: silent,
      store: new MemoryStore(),
      callTimeoutMs: 5_000,
      retransmit: { attempts: 40, initialBackoffMs: 100, maxBackoffMs: 500 },
    });
    try {
      const order = await apcs.placeOrder(milkOrder(CODES));
      const first = [e[0]!, r[0]!, o[0]!];
      let stopping: Promise<unknown> | undefined;
      let blocksBefore = 0;
      const saved = await apcs.receiveCodes(order.orderId, {
        onBlock: (block) => {
          // Mid-stream: the first instance of every role gets SIGTERM at once (not awaited: the stream goes on).
          if (block.seq === 2) {
            blocksBefore = block.seq;
            stopping = Promise.all(first.map((x) => x.role.stop("SIGTERM")));
          }
        },
      });
      await stopping;
      expect(blocksBefore).toBe(2);
      expect(saved.storedCodes).toBe(CODES);
      const codes = new Set<string>();
      for await (const block of apcs.codes(order.orderId)) for (const c of block.codes) codes.add(c);
      expect(codes.size).toBe(CODES);
      // Each stopped instance exited 0, after ending the streams it served.
      for (const x of first) expect(x.role.child.exitCode).toBe(0);
      const shutdown = (x: Watched) => x.logs.find((l) => l.msg === "shutting down");
      expect(shutdown(o[0]!)?.streamsEnded).toBeGreaterThanOrEqual(1);
      expect(first.every((x) => x.logs.some((l) => l.msg === "stopped"))).toBe(true);
      // One order at every hop, every block once, every serial once.
      const blocks = CODES / Number(ENV.BLOCK_SIZE);
      expect(await count(db.uri, `${prefix}emission-server`, "orders")).toBe(1);
      expect(await count(db.uri, `${prefix}emission-server-codes`, "blocks")).toBe(blocks);
      expect(await count(db.uri, `${prefix}emission-server-codes`, "serials")).toBe(CODES);
      expect(await count(db.uri, `${prefix}registrar`, "pools")).toBe(1);
      expect(await count(db.uri, `${prefix}registrar-codes`, "blocks")).toBe(blocks);
      expect(await count(db.uri, `${prefix}oms`, "orders")).toBe(1);
      expect(await count(db.uri, `${prefix}oms-codes`, "blocks")).toBe(blocks);
      expect((await apcs.getOrder(order.orderId)).deliveredCodes).toBe(BigInt(CODES));
    } finally {
      await apcs.close();
    }
  });
});
