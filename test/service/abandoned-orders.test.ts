import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { InstanceLiveness } from "../../src/core/iotp/instance-liveness.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { ReplyStore } from "../../src/core/iotp/reply-store.js";
import { parseCode } from "../../src/domain/code-format.js";
import { releaseAbandonedOrders } from "../../src/emission-server/abandoned-orders.js";
import { openEmissionCollections, serialKey } from "../../src/emission-server/emission-orders.js";
import { openEmissionRecords } from "../../src/emission-server/emission-records.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import type { Store } from "../../src/store/store.js";
import { onBothStores } from "../support/both-stores.js";
import { bearer } from "../support/in-memory-mesh.js";
import { freshGtin, milkOrder, selfMadeSerials } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });
/** A stopped instance counts as dead at once; a killed one within 200 ms. */
const config = testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000", INSTANCE_HEARTBEAT_MS: "50", INSTANCE_DEAD_MS: "200" });

class SimulatedCrash extends Error {}

function selfMadeOrder(g: string) {
  const spec = milkOrder(25, g);
  spec.products = [{ ...spec.products![0], serialNumberType: SerialNumberType.SELF_MADE, serialNumbers: selfMadeSerials(25) }];
  return spec;
}

function clientOf(role: BuiltRole) {
  return createClient(EmitterService, inMemoryTransport(role.spec, bearer(TOKENS.registrar)));
}

/**
 * An Emission server whose CreateEmissionOrder stops between step 5 (serials
 * and slot taken) and step 6 (order document), as if the process hung or died there.
 */
async function stuckBetweenTheWrites(store: Store, g: string, requestId: string) {
  let reached!: (orderId: string) => void;
  let crash!: (err: Error) => void;
  const at = new Promise<string>((resolve) => (reached = resolve));
  const dying = await buildEmissionServer({
    config,
    log: silent,
    store,
    emitterFaults: {
      orderReserved: (orderId) =>
        new Promise<void>((_, reject) => {
          crash = reject;
          reached(orderId);
        }),
    },
  });
  const call = clientOf(dying).createEmissionOrder(
    { participantId: "77", order: selfMadeOrder(g) },
    { headers: { "x-request-id": requestId } },
  );
  call.catch(() => undefined);
  const orderId = await at;
  return { dying, orderId, crash: () => crash(new SimulatedCrash("the process died here")) };
}

async function counts(store: Store, g: string) {
  const db = await openEmissionCollections(store);
  const serials = await db.serials.find({});
  return {
    serials: serials.filter((s) => s._id.startsWith(`${g}/`)).length,
    slots: await db.slots.count({}),
    intents: await db.slots.count({ createdAt: { $gt: 0 } }),
    chunks: await db.chunks.count({}),
  };
}

describe("Emission server: an order whose creation died between step 5 and step 6", () => {
  onBothStores((open) => {
    it("keeps the SELF_MADE serials of a creator that is still alive", async () => {
      const store = await open();
      const g = freshGtin();
      const { dying, crash } = await stuckBetweenTheWrites(store, g, "alive-creator");
      // This observer counts an instance dead after a minute: a busy test machine never makes the creator look dead.
      const other = await InstanceLiveness.start(store, { heartbeatMs: 50, deadMs: 60_000 });
      try {
        const replies = await ReplyStore.open(store, 60_000, 60_000, other);
        const db = await openEmissionRecords(store);
        expect(await releaseAbandonedOrders({ db, replies, log: silent }, 0)).toBe(0);
        expect(await counts(store, g)).toEqual({ serials: 25, slots: 1, intents: 1, chunks: 3 });
      } finally {
        crash();
        await other.stop();
        await dying.stop();
      }
    });

    it("still gives back what a create of an older instance left, whose intent is a document of its own", async () => {
      const store = await open();
      const collections = await openEmissionCollections(store);
      await collections.slots.insertOne({ _id: "old-order", participantId: "77" });
      await collections.intents.insertOne({ _id: "old-order", claim: "never-stored", chunks: [], createdAt: 1 });
      const liveness = await InstanceLiveness.start(store, { heartbeatMs: 50, deadMs: 60_000 });
      try {
        const replies = await ReplyStore.open(store, 60_000, 60_000, liveness);
        expect(await releaseAbandonedOrders({ db: await openEmissionRecords(store), replies, log: silent }, 0)).toBe(1);
        expect([await collections.slots.count({}), await collections.intents.count({})]).toEqual([0, 0]);
      } finally {
        await liveness.stop();
      }
    });

    it("gives its serials and slot back once the creator is dead, and the retry emits exactly them", async () => {
      const store = await open();
      const g = freshGtin();
      const { dying, orderId, crash } = await stuckBetweenTheWrites(store, g, "dead-creator");
      expect(await counts(store, g)).toEqual({ serials: 25, slots: 1, intents: 1, chunks: 3 });
      await dying.stop(); // its heartbeat record goes: dead from now on
      const next = await buildEmissionServer({ config, log: silent, store });
      try {
        // The next instance's sweep takes the dead creator's claim and undoes step 5.
        await vi.waitFor(async () => expect(await counts(store, g)).toEqual({ serials: 0, slots: 0, intents: 0, chunks: 0 }), {
          timeout: 10_000,
          interval: 50,
        });
        crash();

        // The Registrar's retry of the same request is a new run: a new order, which gets the serials.
        const client = clientOf(next);
        const retried = await client.createEmissionOrder(
          { participantId: "77", order: selfMadeOrder(g) },
          { headers: { "x-request-id": "dead-creator" } },
        );
        expect(retried.orderId).not.toBe(orderId);
        const codes: string[] = [];
        for await (const r of client.streamCodes({ orderId: retried.orderId })) codes.push(...(r.block?.codes ?? []));
        const serials = codes.map((c) => {
          const p = parseCode(c);
          return p.ok ? p.serial : c;
        });
        expect(serials).toEqual(selfMadeSerials(25));
        const db = await openEmissionCollections(store);
        expect((await db.serials.find({ orderId: retried.orderId })).map((s) => s._id).sort()).toEqual(
          serials.map((s) => serialKey(g, s)).sort(),
        );
        expect(await counts(store, g)).toEqual({ serials: 25, slots: 1, intents: 0, chunks: 3 });
      } finally {
        await next.stop();
      }
    });
  });
});
