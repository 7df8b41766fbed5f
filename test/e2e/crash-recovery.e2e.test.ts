import { MongoClient } from "mongodb";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { startFerretDb } from "../support/ferretdb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess, type ServerRole } from "../support/processes.js";
import { EMISSION_KEYS, QUICK_TAKE_OVER_ENV, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

interface Mesh {
  roles: Record<ServerRole, RoleProcess>;
  env: Record<string, string>;
  restart(role: ServerRole): Promise<void>;
  stop(): Promise<void>;
}

async function meshOn(uri: string, prefix: string): Promise<Mesh> {
  const env = { ...QUICK_TAKE_OVER_ENV, MONGODB_URI: uri, MONGODB_DATABASE_PREFIX: prefix };
  const emission = await startRole("emission-server", env);
  const registrar = await startRole("registrar", { ...env, EMISSION_SERVER_ADDR: emission.address });
  const oms = await startRole("oms", { ...env, REGISTRAR_ADDR: registrar.address });
  const roles: Record<ServerRole, RoleProcess> = { "emission-server": emission, registrar, oms };
  const below: Record<ServerRole, Record<string, string>> = {
    "emission-server": {},
    registrar: { EMISSION_SERVER_ADDR: emission.address },
    oms: { REGISTRAR_ADDR: registrar.address },
  };
  return {
    roles,
    env,
    async restart(role) {
      roles[role] = await startRole(role, { ...env, ...below[role] }, roles[role].port);
    },
    async stop() {
      await Promise.all(Object.values(roles).map((r) => r.stop()));
    },
  };
}

function lineController(oms: RoleProcess): Promise<Apcs> {
  return Apcs.open({
    transport: createDownstreamTransport({ address: parseAddress(oms.address), token: TOKENS.apcs, maxMessageBytes: 64 << 20 }),
    log: silent,
    callTimeoutMs: 2_000,
    retransmit: { attempts: 40, initialBackoffMs: 100, maxBackoffMs: 500 },
  });
}

async function countIn(uri: string, db: string, collection: string): Promise<number> {
  const client = await MongoClient.connect(uri);
  try {
    return await client.db(db).collection(collection).countDocuments();
  } finally {
    await client.close();
  }
}

describe("kill -9 of any role mid-order, on MongoDB (FerretDB)", () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await db?.stop();
  });

  for (const victim of ["emission-server", "registrar", "oms"] as const) {
    it(`finishes the order after the ${victim} is killed and started again: no order twice, no code lost or twice`, {
      timeout: 180_000,
    }, async () => {
      const prefix = `crash-${victim}-${Date.now()}-`;
      const mesh = await meshOn(db.uri, prefix);
      const apcs = await lineController(mesh.roles.oms);
      try {
        const order = await apcs.placeOrder(milkOrder(30_000));
        let killed = false;
        const seqs: number[] = [];
        const receiving = apcs.receiveCodes(order.orderId, {
          onBlock: async (b) => {
            seqs.push(b.seq);
            if (b.seq === 5 && !killed) {
              killed = true;
              await mesh.roles[victim].stop("SIGKILL");
              await mesh.restart(victim);
            }
          },
        });
        const saved = await receiving;
        expect(killed).toBe(true);
        expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
        expect(saved.storedCodes).toBe(30_000);
        const ring = parseKeyRing(EMISSION_KEYS);
        const codes = new Set<string>();
        for await (const block of apcs.codes(order.orderId)) for (const c of block.codes) codes.add(c);
        expect(codes.size).toBe(30_000);
        for (const c of [...codes].slice(0, 200)) expect(verifyCode(ring, c).valid).toBe(true);
        expect(await countIn(db.uri, `${prefix}emission-server`, "orders")).toBe(1);
        expect(await countIn(db.uri, `${prefix}registrar`, "pools")).toBe(1);
        expect(await countIn(db.uri, `${prefix}oms`, "orders")).toBe(1);
        expect(await countIn(db.uri, `${prefix}emission-server-codes`, "blocks")).toBe(60);
        // The serial registry holds the serials of the emitted codes, none left over by the kill.
        expect(await countIn(db.uri, `${prefix}emission-server-codes`, "serials")).toBe(30_000);
        const oms = await apcs.getOrder(order.orderId);
        expect(oms.deliveredCodes).toBe(30_000n);
      } finally {
        await apcs.close();
        await mesh.stop();
      }
    });
  }

  it("makes exactly one order when OMS dies while the line is placing it, and comes back", async () => {
    const prefix = `crash-create-${Date.now()}-`;
    const mesh = await meshOn(db.uri, prefix);
    const apcs = await lineController(mesh.roles.oms);
    try {
      await mesh.roles.oms.stop("SIGKILL");
      const placing = apcs.placeOrder(milkOrder(1_000), "crash-create-0001");
      await new Promise((r) => setTimeout(r, 500));
      await mesh.restart("oms");
      const order = await placing;
      await apcs.receiveCodes(order.orderId);
      expect((await apcs.savedOrder(order.orderId)).storedCodes).toBe(1_000);
      expect(await countIn(db.uri, `${prefix}oms`, "orders")).toBe(1);
      expect(await countIn(db.uri, `${prefix}emission-server`, "orders")).toBe(1);
    } finally {
      await apcs.close();
      await mesh.stop();
    }
  });
});
