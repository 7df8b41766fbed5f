import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { type BlockMaker, type BlockToMake, inThreadBlockMaker } from "../../src/emission-server/block-maker.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { codesOf, expectFinishedByNewInstance, registryOf, serialKeysOf } from "../support/emitted-codes.js";
import { bearer } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });
/** Blocks of 10 codes; short leases, so a next instance takes a dead one's order over at once. */
const config = testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000", WORK_LEASE_MS: "200" });

class SimulatedCrash extends Error {}

/** Lets the event loop turn `n` times: far more than an in-memory registry needs to take a block's serials. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A block maker that takes its time (event-loop turns, as a worker thread would), recording what happened in which order. */
function slowMaker(events: string[], onMake?: (b: BlockToMake) => Promise<void>): BlockMaker {
  return {
    async make(b) {
      events.push(`make ${b.seq}`);
      await turns(20);
      await onMake?.(b);
      events.push(`made ${b.seq}`);
      return inThreadBlockMaker.make(b);
    },
    close: async () => undefined,
  };
}

/** Block (seq) of a chunk key "<order>/0/<chunk>" of a one-product order. */
const seqOf = (chunk: string): number => Number(chunk.split("/").at(-1)) + 1;

async function createOrder(role: BuiltRole, quantity: number, requestId: string): Promise<string> {
  const client = createClient(EmitterService, inMemoryTransport(role.spec, bearer(TOKENS.registrar)));
  const created = await client.createEmissionOrder(
    { participantId: "77", order: milkOrder(quantity) },
    { headers: { "x-request-id": requestId } },
  );
  return created.orderId;
}

describe("Emitter (serials taken ahead)", () => {
  it("takes the next block's serials of an order alone while its current block is made, and emits every code once", async () => {
    const store = new MemoryStore();
    const events: string[] = [];
    const role = await buildEmissionServer({
      config,
      log: silent,
      store,
      blockMaker: slowMaker(events),
      emitterFaults: { serialsTaken: (chunk) => void events.push(`serials ${seqOf(chunk)}`) },
    });
    try {
      const orderId = await createOrder(role, 45, "ahead-order-1");
      const codes = await codesOf(role, orderId);
      expect(codes).toHaveLength(45);
      const emitted = serialKeysOf(codes);
      expect(new Set(emitted).size).toBe(45);
      expect(await registryOf(store, orderId)).toEqual(emitted);
      // Block 2's serials were taken while block 1 was being made, and so on.
      for (let seq = 1; seq < 5; seq++) expect(events.indexOf(`serials ${seq + 1}`)).toBeLessThan(events.indexOf(`made ${seq}`));
      expect(events.slice(0, 4)).toEqual(["serials 1", "make 1", "serials 2", "made 1"]);
    } finally {
      await role.stop();
    }
  });

  it("after dying while a block is made with the next one's serials taken ahead, a new instance emits the order and the registry holds exactly its codes' serials", async () => {
    const store = new MemoryStore();
    let taken = 0;
    let atCrash: string[] = [];
    const dying = await buildEmissionServer({
      config,
      log: silent,
      store,
      emitterFaults: {
        serialsTaken: (chunk) => {
          if (chunk.endsWith("/0/2")) taken++;
        },
      },
      // The instance "dies" making block 2, once it has waited as long for block 3's serials to be taken.
      blockMaker: slowMaker([], async (b) => {
        if (b.seq !== 2) return;
        atCrash = await registryOf(store, b.orderId);
        throw new SimulatedCrash("died making block 2");
      }),
    });
    let orderId = "";
    try {
      orderId = await createOrder(dying, 45, "ahead-crash-1");
      for (let i = 0; i < 1_000 && atCrash.length === 0; i++) await turns(1);
    } finally {
      await dying.stop();
    }
    // Blocks 1 and 2 had their serials, and block 3 its own, taken ahead of block 2 being stored.
    expect(taken).toBeGreaterThan(0);
    expect(atCrash).toHaveLength(30);

    await expectFinishedByNewInstance({ config, log: silent, store }, orderId, 45);
  });
});
