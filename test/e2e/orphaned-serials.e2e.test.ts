import { ConnectError, createClient } from "@connectrpc/connect";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { reasonOf, retryHintOf } from "../../src/core/rpc/index.js";
import { sleep } from "../../src/core/runtime/index.js";
import { parseCode } from "../../src/domain/code-format.js";
import { serialKey } from "../../src/emission-server/emission-orders.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { startFaultyEmissionServer } from "../support/faulty-emission-server.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";
import { SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import { freshGtin, milkOrder, selfMadeSerials } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

const ENV = { WORK_LEASE_MS: "1000", BLOCK_SIZE: "100", EMISSION_RATE: "100000", CALL_TIMEOUT_MS: "2000" };

function clientAt(address: string) {
  return createClient(
    EmitterService,
    createDownstreamTransport({ address: parseAddress(address), token: TOKENS.registrar, maxMessageBytes: 64 << 20 }),
  );
}

/**
 * Sends the call again while it is answered "being processed" (REQUEST_IN_PROGRESS), after the retry
 * hint, as a retransmitting caller does: the sweep that gives serials back holds the request's claim
 * for a few writes more after the registry shows them free.
 */
async function whileInProgress<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const e = ConnectError.from(err);
      if (reasonOf(e) !== "REQUEST_IN_PROGRESS" || attempt >= 20) throw e;
      await sleep(retryHintOf(e) ?? 250);
    }
  }
}

async function registryOf(uri: string, db: string, orderId: string | { gtin: string }): Promise<string[]> {
  const client = await MongoClient.connect(uri);
  try {
    const filter = typeof orderId === "string" ? { orderId } : { _id: { $regex: `^${orderId.gtin}/` } };
    // The registry lives in the role's bulk database (MONGODB_BULK_DATABASE_SUFFIX, default -codes).
    const docs = await client.db(`${db}-codes`).collection<{ _id: string }>("serials").find(filter).toArray();
    return docs.map((d) => d._id).sort();
  } finally {
    await client.close();
  }
}

describe("Emission server killed (kill -9) between serial writes, on MongoDB (FerretDB)", () => {
  let db: TestMongo;
  const started: RoleProcess[] = [];
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await db?.stop();
  });

  for (const point of ["serialsFixed", "serialsTaken"] as const) {
    it(`the restarted server finishes the order and the registry holds exactly the serials of its codes (killed at ${point})`, {
      timeout: 120_000,
    }, async () => {
      const prefix = `orphans-${point}-${Date.now()}-`;
      const env = { ...ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix };
      // Dies at block 4 (chunk 3 of product 0) of the order.
      const dying = await startFaultyEmissionServer(env, point, "/0/3");
      let orderId = "";
      try {
        ({ orderId } = await clientAt(dying.address).createEmissionOrder(
          { participantId: "77", order: milkOrder(550) },
          { headers: { "x-request-id": `orphans-${point}` } },
        ));
        expect(await dying.exited).toBe("SIGKILL");
      } finally {
        dying.kill();
      }
      const database = `${prefix}emission-server`;
      expect((await registryOf(db.uri, database, orderId)).length).toBe(point === "serialsFixed" ? 300 : 400);

      const restarted = await startRole("emission-server", env);
      started.push(restarted);
      const codes: string[] = [];
      for await (const r of clientAt(restarted.address).streamCodes({ orderId })) codes.push(...(r.block?.codes ?? []));
      expect(codes).toHaveLength(550);
      const emitted = codes
        .map((c) => {
          const p = parseCode(c);
          return p.ok ? serialKey(p.gtin, p.serial) : c;
        })
        .sort();
      expect(new Set(emitted).size).toBe(550);
      expect(await registryOf(db.uri, database, orderId)).toEqual(emitted);
    });
  }

  it("SELF_MADE serials registered at step 5 by a server killed before step 6 are given back, and the retry emits exactly them", {
    timeout: 120_000,
  }, async () => {
    const prefix = `orphans-step5-${Date.now()}-`;
    // Dead after 1 s without a heartbeat: the restarted server's sweep finds the killed one's intent soon.
    const env = { ...ENV, INSTANCE_HEARTBEAT_MS: "100", INSTANCE_DEAD_MS: "1000", MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: prefix };
    const database = `${prefix}emission-server`;
    const g = freshGtin();
    const spec = milkOrder(250, g);
    spec.products = [{ ...spec.products![0], serialNumberType: SerialNumberType.SELF_MADE, serialNumbers: selfMadeSerials(250) }];
    const dying = await startFaultyEmissionServer(env, "orderReserved", "");
    try {
      await expect(
        clientAt(dying.address).createEmissionOrder({ participantId: "77", order: spec }, { headers: { "x-request-id": "orphans-step5" } }),
      ).rejects.toThrow();
      expect(await dying.exited).toBe("SIGKILL");
    } finally {
      dying.kill();
    }
    expect(await registryOf(db.uri, database, { gtin: g })).toHaveLength(250); // registered, on no order

    const restarted = await startRole("emission-server", env);
    started.push(restarted);
    await vi.waitFor(async () => expect(await registryOf(db.uri, database, { gtin: g })).toHaveLength(0), {
      timeout: 60_000,
      interval: 250,
    });
    const { orderId } = await whileInProgress(() =>
      clientAt(restarted.address).createEmissionOrder(
        { participantId: "77", order: spec },
        { headers: { "x-request-id": "orphans-step5" } },
      ),
    );
    const codes: string[] = [];
    for await (const r of clientAt(restarted.address).streamCodes({ orderId })) codes.push(...(r.block?.codes ?? []));
    const emitted = codes
      .map((c) => {
        const p = parseCode(c);
        return p.ok ? serialKey(p.gtin, p.serial) : c;
      })
      .sort();
    expect(emitted).toEqual(
      selfMadeSerials(250)
        .map((x) => serialKey(g, x))
        .sort(),
    );
    expect(await registryOf(db.uri, database, { gtin: g })).toEqual(emitted);
  });
});
