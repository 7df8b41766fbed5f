import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection, CollectionOptions, Doc, Filter, FindOptions, IndexSpec, Store } from "../../src/store/store.js";
import { bearer } from "../support/in-memory-mesh.js";
import { forwarding } from "../support/store-wrappers.js";
import { milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });
/** Slow enough that the big order takes 15 s however slowly the small ones are placed; the test waits for the small ones only. */
const RATE = 10_000;

/** The blocks the emitters made, in order: "<orderId>/<product>/<chunk>", by which instance, when (ms, the server's clock). */
type Event = { block: string; by: number; at: number };

/** How the first instance differs from the others: the store as it sees it, its log. */
interface FirstInstance {
  wrap?: (store: Store) => Store;
  log?: pino.Logger;
}

async function emissionServers(n: number, env: Record<string, string>, first: FirstInstance = {}) {
  const config = testConfig(env);
  const store = new MemoryStore();
  const events: Event[] = [];
  const roles: BuiltRole[] = [];
  for (let by = 0; by < n; by++) {
    roles.push(
      await buildEmissionServer({
        config,
        log: (by === 0 ? first.log : undefined) ?? silent,
        store: by === 0 && first.wrap !== undefined ? first.wrap(store) : store,
        emitterFaults: { serialsTaken: (block) => void events.push({ block, by, at: Date.now() }) },
      }),
    );
  }
  const clients = roles.map((r) => createClient(EmitterService, inMemoryTransport(r.spec, bearer(TOKENS.registrar))));
  return {
    events,
    clients,
    store,
    async close() {
      for (const r of roles) await r.stop();
      await store.close();
    },
  };
}

/**
 * A store whose next read of the pending orders, once caught(), answers what
 * it found when asked, but only after release(): a resume scan that read
 * before an order was created and goes on after.
 */
function heldPendingRead() {
  let armed = false;
  let caught: () => void = () => undefined;
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  const holding = <T extends Doc>(c: Collection<T>): Collection<T> => ({
    ...forwarding(c),
    async find(filter: Filter<T>, options?: FindOptions<T>) {
      const found = await c.find(filter, options);
      if (!armed || (filter as { status?: unknown }).status !== OrderStatus.PENDING) return found;
      armed = false;
      caught();
      await released;
      return found;
    },
  });
  return {
    wrap: (store: Store): Store => ({
      collection: async <T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions) => {
        const c = await store.collection<T>(name, indexes, options);
        return name === "orders" ? holding(c) : c;
      },
      close: () => store.close(),
    }),
    /** Resolves once the next read of the pending orders is held. */
    caught: () =>
      new Promise<void>((r) => {
        caught = r;
        armed = true;
      }),
    release: () => release(),
  };
}

/** A logger keeping every line's message. */
function recordingLog(): { log: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { log, messages };
}

let requests = 0;
const headers = () => ({ "x-request-id": `fair-emission-${++requests}` });

async function untilReady(emitter: Client<typeof EmitterService>, orderId: string): Promise<void> {
  for await (const r of emitter.streamCodes({ orderId })) if (r.block?.last === true) return;
}

describe("Emitter (fair emission)", () => {
  let servers: Awaited<ReturnType<typeof emissionServers>> | undefined;
  afterEach(async () => {
    await servers?.close();
    servers = undefined;
  });

  it("emits ten 100-code orders placed behind a 150 000-code order within their own estimates, long before it", async () => {
    servers = await emissionServers(1, { BLOCK_SIZE: "1000", EMISSION_RATE: String(RATE) });
    const { events } = servers;
    const emitter = servers.clients[0]!;
    const big = await emitter.createEmissionOrder({ participantId: "7700000100", order: milkOrder(150_000) }, { headers: headers() });
    const small: { orderId: string; placedAt: number; readyAt: number; estimatedCodes: number }[] = [];
    for (let i = 0; i < 10; i++) {
      const created = await emitter.createEmissionOrder(
        { participantId: `77000002${String(i).padStart(2, "0")}`, order: milkOrder(100) },
        { headers: headers() },
      );
      const placedAt = timestampMs((await emitter.getEmissionOrder({ orderId: created.orderId })).order!.createTime!);
      const readyAt = timestampMs(created.readiness!.estimatedReadyTime!);
      small.push({ orderId: created.orderId, placedAt, readyAt, estimatedCodes: ((readyAt - placedAt) * RATE) / 1000 });
    }
    await Promise.all(small.map((s) => untilReady(emitter, s.orderId)));

    const bigNow = (await emitter.getEmissionOrder({ orderId: big.orderId })).order!;
    expect(bigNow.status).toBe(OrderStatus.PENDING);
    const bigReadyAt = timestampMs(big.readiness!.estimatedReadyTime!);
    for (const s of small) {
      // About its time alone: its own block, and at most a block or two of everyone ahead of it in the rotation.
      expect(s.estimatedCodes).toBeLessThanOrEqual(100 + 2 * 1_000 + 10 * 100);
      // The codes made after it was placed (its estimate's moment) through its last block are no more than its estimate counted.
      const through = events.findIndex((e) => e.block.startsWith(`${s.orderId}/`));
      const made = events.slice(0, through + 1).filter((e) => e.at > s.placedAt);
      const codes = made.reduce((n, e) => n + (e.block.startsWith(`${big.orderId}/`) ? 1_000 : 100), 0);
      expect(codes).toBeLessThanOrEqual(s.estimatedCodes);
      expect(s.readyAt).toBeLessThan(bigReadyAt);
    }
  });

  it("shares the pending orders of one database between two instances, each block made with its own serials once", async () => {
    servers = await emissionServers(2, {
      BLOCK_SIZE: "500",
      EMISSION_RATE: "5000",
      INSTANCE_HEARTBEAT_MS: "100",
      INSTANCE_DEAD_MS: "1000",
      STREAM_RECHECK_MS: "20",
    });
    const [viaA, viaB] = servers.clients as [Client<typeof EmitterService>, Client<typeof EmitterService>];
    const orders: string[] = [];
    for (let i = 0; i < 4; i++) {
      const created = await viaA.createEmissionOrder(
        { participantId: `77000003${String(i).padStart(2, "0")}`, order: milkOrder(4_000) },
        { headers: headers() },
      );
      orders.push(created.orderId);
    }
    const codes = new Set<string>();
    for (const orderId of orders) for await (const r of viaB.streamCodes({ orderId })) for (const c of r.block!.codes) codes.add(c);
    expect(codes.size).toBe(16_000);
    const blocks = servers.events;
    // Every block made, none of them twice over: on a loaded machine a lease may lapse and the other instance
    // take a block's serials again, but it finds the same ones under the block's key, so the registry holds
    // exactly the codes delivered and no serial is spent twice.
    expect(new Set(blocks.map((b) => b.block)).size).toBe(32);
    expect(await (await servers.store.collection("serials")).count({})).toBe(16_000);
    // Orders all placed through A, yet B emitted some of them.
    expect(new Set(blocks.map((b) => b.by))).toEqual(new Set([0, 1]));
  });

  it("keeps an order created while one of its scans was reading, rather than handing it over as beyond its share", async () => {
    const held = heldPendingRead();
    const { log, messages } = recordingLog();
    servers = await emissionServers(
      2,
      { BLOCK_SIZE: "500", EMISSION_RATE: "5000", INSTANCE_HEARTBEAT_MS: "100", INSTANCE_DEAD_MS: "1000", STREAM_RECHECK_MS: "20" },
      { wrap: held.wrap, log },
    );
    const [viaA] = servers.clients as [Client<typeof EmitterService>];
    // A scan of the first instance has read the pending orders (none yet) and waits; the order is created meanwhile.
    await held.caught();
    const { orderId } = await viaA.createEmissionOrder({ participantId: "7700000400", order: milkOrder(2_000) }, { headers: headers() });
    held.release();
    await untilReady(viaA, orderId);
    expect(messages.filter((m) => m.startsWith("handing the order over"))).toEqual([]);
    const blocks = servers.events.filter((e) => e.block.startsWith(`${orderId}/`));
    expect(new Set(blocks.map((b) => b.block)).size).toBe(4);
    expect(new Set(blocks.map((b) => b.by))).toEqual(new Set([0]));
  });
});
