import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { buildOms } from "../../src/oms/server.js";
import { buildRegistrar } from "../../src/registrar/server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { bearer } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

/** Two instances of every role, each pair sharing one database (here one embedded store per role). */
async function twoOfEach(env: Record<string, string>) {
  const config = testConfig(env);
  const db = { emission: new MemoryStore(), registrar: new MemoryStore(), oms: new MemoryStore() };
  const emission = [
    await buildEmissionServer({ config, log: silent, store: db.emission }),
    await buildEmissionServer({ config, log: silent, store: db.emission }),
  ];
  const registrar = await Promise.all(
    emission.map((e) =>
      buildRegistrar({ config, log: silent, store: db.registrar, downstream: inMemoryTransport(e.spec, bearer(TOKENS.registrar)) }),
    ),
  );
  const oms = await Promise.all(
    registrar.map((r) => buildOms({ config, log: silent, store: db.oms, downstream: inMemoryTransport(r.spec, bearer(TOKENS.oms)) })),
  );
  // One line controller store, two sessions: one to each OMS instance.
  const line = new MemoryStore();
  const apcs = await Promise.all(
    oms.map((o) => Apcs.open({ transport: inMemoryTransport(o.spec, bearer(TOKENS.apcs)), log: silent, store: line })),
  );
  const all: BuiltRole[] = [...oms, ...registrar, ...emission];
  const stopped = new Set<BuiltRole>();
  return {
    db,
    emission,
    registrar,
    oms,
    apcs,
    /** Stops an instance the way a crash would leave its work: nothing finished, nothing handed over. */
    async kill(role: BuiltRole) {
      stopped.add(role);
      await role.stop();
    },
    async count(store: MemoryStore, collection: string) {
      return (await store.collection<{ _id: string }>(collection)).count({});
    },
    async close() {
      await Promise.all(apcs.map((a) => a.close()));
      await line.close();
      for (const r of all) if (!stopped.has(r)) await r.stop();
    },
  };
}

describe("several instances of each role on one database", () => {
  let mesh: Awaited<ReturnType<typeof twoOfEach>> | undefined;
  afterEach(async () => {
    await mesh?.close();
  });

  it("delivers every code exactly once when orders enter through one instance and leave through the other", async () => {
    mesh = await twoOfEach({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000", STREAM_RECHECK_MS: "20" });
    const placed = await Promise.all([0, 1, 2, 3].map((i) => mesh!.apcs[i % 2]!.placeOrder(milkOrder(500))));
    const codes = new Set<string>();
    for (const [i, order] of placed.entries()) {
      // The other line controller session receives it: through the other OMS instance.
      const receiver = mesh.apcs[(i + 1) % 2]!;
      const saved = await receiver.receiveCodes(order.orderId);
      expect(saved.storedCodes).toBe(500);
      for await (const block of receiver.codes(order.orderId)) for (const c of block.codes) codes.add(c);
    }
    expect(codes.size).toBe(2_000);
    expect([
      await mesh.count(mesh.db.emission, "orders"),
      await mesh.count(mesh.db.registrar, "pools"),
      await mesh.count(mesh.db.oms, "orders"),
    ]).toEqual([4, 4, 4]);
  });

  it("lets the surviving instance finish an order whose emitting instance died, with no code emitted twice", async () => {
    mesh = await twoOfEach({ BLOCK_SIZE: "100", EMISSION_RATE: "4000", WORK_LEASE_MS: "300", STREAM_RECHECK_MS: "20" });
    const viaA = createClient(EmitterService, inMemoryTransport(mesh.emission[0]!.spec, bearer(TOKENS.registrar)));
    const viaB = createClient(EmitterService, inMemoryTransport(mesh.emission[1]!.spec, bearer(TOKENS.registrar)));
    const created = await viaA.createEmissionOrder(
      { participantId: "77", order: milkOrder(2_000) },
      { headers: { "x-request-id": "instances-0001" } },
    );
    await new Promise((r) => setTimeout(r, 150));
    await mesh.kill(mesh.emission[0]!);
    const before = (await viaB.getEmissionOrder({ orderId: created.orderId })).order?.emittedBlocks ?? 0;
    expect(before).toBeLessThan(20);
    const codes: string[] = [];
    for await (const r of viaB.streamCodes({ orderId: created.orderId })) codes.push(...r.block!.codes);
    expect(codes).toHaveLength(2_000);
    expect(new Set(codes).size).toBe(2_000);
    const order = (await viaB.getEmissionOrder({ orderId: created.orderId })).order;
    expect([order?.status, order?.emittedCodes, order?.emittedBlocks]).toEqual([OrderStatus.READY, 2_000n, 20]);
  });
});
