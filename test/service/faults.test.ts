import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import type { Apcs, OrderSpecInit } from "../../src/apcs/apcs-client.js";
import { REPLAY_HEADER } from "../../src/core/idempotency-interceptor.js";
import { RETRANSMIT_CODES } from "../../src/core/transient-codes.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { BufferStatus, OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import type { Order } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { FAULT_KINDS, faultyTransport, type FaultKind, type FaultPlan, type FaultyTransport } from "../support/fault-transport.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { EMISSION_KEYS } from "../support/test-config.js";

/** Small blocks so every stream has many; short deadlines so lost replies are noticed quickly. */
const ENV = {
  BLOCK_SIZE: "50",
  EMISSION_RATE: "1000000",
  CALL_TIMEOUT_MS: "300",
  RETRANSMIT_ATTEMPTS: "8",
  RETRANSMIT_BACKOFF_MS: "10",
  RETRANSMIT_MAX_BACKOFF_MS: "100",
  DUPLICATE_WAIT_MS: "2000",
};
const APCS_OPTIONS = { callTimeoutMs: 300, retransmit: { attempts: 8, initialBackoffMs: 10, maxBackoffMs: 100 } };

type LinkName = "apcsToOms" | "omsToRegistrar" | "registrarToEmission";
const LINKS: readonly LinkName[] = ["apcsToOms", "omsToRegistrar", "registrarToEmission"];
/** The role whose store holds the orders on the server side of each link. */
const SERVER_OF: Record<LinkName, "oms" | "registrar" | "emission"> = { apcsToOms: "oms", omsToRegistrar: "registrar", registrarToEmission: "emission" };

interface FaultyMesh {
  mesh: InMemoryMesh;
  links: Record<LinkName, FaultyTransport>;
}

/** The in-memory mesh with a fault-injecting layer on each of its three links. */
async function faultyMesh(plans: Partial<Record<LinkName, FaultPlan>>): Promise<FaultyMesh> {
  const links = {} as Record<LinkName, FaultyTransport>;
  const wrap = (name: LinkName) => (t: Parameters<typeof faultyTransport>[0]) => (links[name] = faultyTransport(t, plans[name] ?? {}));
  const mesh = await inMemoryMesh(ENV, { apcsToOms: wrap("apcsToOms"), omsToRegistrar: wrap("omsToRegistrar"), registrarToEmission: wrap("registrarToEmission") }, APCS_OPTIONS);
  return { mesh, links };
}

/** Delayed requests still on their way reach their server before anything is counted. */
async function settle(links: Record<LinkName, FaultyTransport>): Promise<void> {
  for (const name of LINKS) await links[name].settle();
}

async function counts(mesh: InMemoryMesh): Promise<[number, number, number]> {
  return [await mesh.count("oms", "orders"), await mesh.count("registrar", "pools"), await mesh.count("emission", "orders")];
}

/**
 * Places a business order as a line operator would: the APCS client
 * retransmits on its own; a placement that still times out is sent again
 * with its request id (a bounded number of times).
 */
async function place(apcs: Apcs, spec: OrderSpecInit, requestId: string, tally: { retried: number } = { retried: 0 }): Promise<Order> {
  let last: ConnectError;
  try {
    return await apcs.placeOrder(spec, requestId);
  } catch (err) {
    last = ConnectError.from(err);
  }
  for (let i = 0; i < 10 && RETRANSMIT_CODES.has(last.code); i++) {
    tally.retried += 1;
    try {
      return await apcs.retryPlacement(requestId);
    } catch (err) {
      last = ConnectError.from(err);
    }
  }
  throw last;
}

/** Every stored block of an order at the line, in order. */
async function linesBlocks(apcs: Apcs, orderId: string): Promise<{ seqs: number[]; codes: string[] }> {
  const seqs: number[] = [];
  const codes: string[] = [];
  for await (const block of apcs.codes(orderId)) {
    seqs.push(block.seq);
    codes.push(...block.codes);
  }
  return { seqs, codes };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe("faults on every link at once: one order per business order, every code once, nothing lost", () => {
  let fm: FaultyMesh | undefined;
  afterEach(async () => {
    await fm?.mesh.close();
    fm = undefined;
  });

  it("runs 20 business orders through drops, duplicates, late requests, refusals and cut streams on all three links", async () => {
    const rates = { dropReply: 0.2, duplicate: 0.2, delay: 0.15, failBefore: 0.2, cutStream: 0.3 };
    fm = await faultyMesh({
      apcsToOms: { seed: 101, rates },
      omsToRegistrar: { seed: 202, rates },
      registrarToEmission: { seed: 303, rates },
    });
    const { mesh, links } = fm;
    const specs = Array.from({ length: 20 }, (_, i) => milkOrder(200 + 23 * i));
    const tally = { retried: 0 };
    const deadline = AbortSignal.timeout(25_000);

    const orders = await Promise.all(
      specs.map(async (spec, i) => {
        const order = await place(mesh.apcs, spec, `fault-run-${String(i).padStart(3, "0")}`, tally);
        await mesh.apcs.receiveCodes(order.orderId, { signal: deadline });
        return order;
      }),
    );
    await settle(links);
    for (const name of LINKS) links[name].heal();

    // Exactly one order per business order at every hop.
    expect(await counts(mesh)).toEqual([20, 20, 20]);
    expect(new Set(orders.map((o) => o.orderId)).size).toBe(20);
    const oms = mesh.omsClient();
    const atOms = await Promise.all(orders.map(async (o) => (await oms.getOrder({ orderId: o.orderId })).order!));
    expect(new Set(atOms.map((o) => o.productionOrderId)).size).toBe(20);
    expect(atOms.map((o) => o.productionOrderId).sort()).toEqual(specs.map((s) => s.productionOrderId).sort());
    for (const o of orders) {
      expect((await mesh.registrarClient.getPool({ orderId: o.orderId })).pool?.orderId).toBe(o.orderId);
      expect((await mesh.emitterClient.getEmissionOrder({ orderId: o.orderId })).order?.orderId).toBe(o.orderId);
    }

    // Every code delivered to the line exactly once, and nothing accepted lost.
    const ring = parseKeyRing(EMISSION_KEYS);
    const all = new Set<string>();
    let total = 0;
    let totalBlocks = 0;
    for (const [i, o] of orders.entries()) {
      const quantity = specs[i]!.products![0]!.quantity!;
      const saved = await mesh.apcs.savedOrder(o.orderId);
      const { seqs, codes } = await linesBlocks(mesh.apcs, o.orderId);
      expect(saved.storedCodes).toBe(quantity);
      expect(codes).toHaveLength(quantity);
      expect(seqs).toEqual(range(Math.ceil(quantity / 50)));
      for (const c of codes) {
        all.add(c);
        expect(verifyCode(ring, c).valid).toBe(true);
      }
      total += quantity;
      totalBlocks += seqs.length;
    }
    expect(all.size).toBe(total);
    for (const o of atOms) {
      expect([o.status, o.bufferStatus]).toEqual([OrderStatus.READY, BufferStatus.EXHAUSTED]);
      expect(o.deliveredCodes).toBe(o.totalCodes);
      expect(o.availableCodes).toBe(0n);
    }
    // Each block crossed each link once: a resumed stream starts after the last stored block.
    for (const name of LINKS) expect(links[name].stats.messages["StreamCodes"], name).toBe(totalBlocks);
    expect(await mesh.count("oms", "blocks")).toBe(totalBlocks);
    expect(await mesh.count("registrar", "blocks")).toBe(totalBlocks);
    expect(await mesh.count("emission", "blocks")).toBe(totalBlocks);

    // The faults really happened, every kind of them, and duplicates were answered from stored replies.
    const injected = Object.fromEntries(LINKS.map((n) => [n, links[n].stats.injected])) as Record<LinkName, Record<FaultKind, number>>;
    for (const kind of FAULT_KINDS) expect(LINKS.reduce((n, l) => n + injected[l][kind], 0), kind).toBeGreaterThan(0);
    for (const name of LINKS) {
      const s = links[name].stats;
      expect(s.injected.dropReply + s.injected.duplicate + s.injected.delay + s.injected.failBefore, `${name} unary faults`).toBeGreaterThan(0);
      expect(s.injected.cutStream, `${name} cuts`).toBeGreaterThan(0);
      expect(Object.values(s.replays).reduce((a, b) => a + b, 0), `${name} replays`).toBeGreaterThan(0);
    }
    if (process.env["FAULT_REPORT"] !== undefined) {
      const report = Object.fromEntries(LINKS.map((n) => [n, { injected: links[n].stats.injected, calls: links[n].stats.calls, replays: links[n].stats.replays, late: links[n].stats.lateDelivered }]));
      console.log(JSON.stringify({ placementsRetried: tally.retried, ...report }, null, 1));
    }
  });
});

describe("each fault on its own", () => {
  let fm: FaultyMesh | undefined;
  afterEach(async () => {
    await fm?.mesh.close();
    fm = undefined;
  });

  it.each([Code.Unavailable, Code.DeadlineExceeded])(
    "a CreateOrder reply lost after OMS processed it (client sees %s): the retransmission gets the stored reply, one order",
    async (dropCode) => {
      fm = await faultyMesh({ apcsToOms: { rules: [{ kind: "dropReply", method: "CreateOrder", first: 1, dropCode }] } });
      const { mesh, links } = fm;
      const order = await mesh.apcs.placeOrder(milkOrder(120), `drop-reply-${dropCode}`);
      const s = links.apcsToOms.stats;
      expect(s.injected.dropReply).toBe(1);
      expect(s.calls["CreateOrder"]).toBe(2);
      const dropped = s.events[0]?.droppedReply as { order?: { orderId: string } } | undefined;
      expect(dropped?.order?.orderId).toBe(order.orderId);
      expect(s.replays["CreateOrder"]).toBe(1);
      expect(await counts(mesh)).toEqual([1, 1, 1]);
      expect((await mesh.apcs.receiveCodes(order.orderId)).storedCodes).toBe(120);
    },
  );

  it.each(["concurrent", "sequential"] as const)("a CreatePool delivered twice to the Registrar (%s) makes one pool", async (duplicate) => {
    fm = await faultyMesh({ omsToRegistrar: { rules: [{ kind: "duplicate", method: "CreatePool", first: 1, duplicate }] } });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(130), `dup-pool-${duplicate}`);
    const s = links.omsToRegistrar.stats;
    expect(s.injected.duplicate).toBe(1);
    expect(s.calls["CreatePool"]).toBe(1);
    // Both copies reached the Registrar: one did the work, the other got its stored reply.
    expect(s.replays["CreatePool"]).toBe(1);
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    expect((await mesh.apcs.receiveCodes(order.orderId)).storedCodes).toBe(130);
  });

  it("a CreateEmissionOrder held past the Registrar's deadline: the retransmission and the late original make one emission order", async () => {
    fm = await faultyMesh({ registrarToEmission: { rules: [{ kind: "delay", method: "CreateEmissionOrder", first: 1, delayPastDeadlineMs: 150 }] } });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(140), "late-emission-0001");
    await settle(links);
    const s = links.registrarToEmission.stats;
    expect(s.injected.delay).toBe(1);
    expect(s.lateDelivered).toBe(1);
    expect(s.calls["CreateEmissionOrder"]).toBeGreaterThanOrEqual(2); // the Registrar sent it again
    expect(s.replays["CreateEmissionOrder"]).toBeGreaterThanOrEqual(1); // the late original found the stored reply
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    expect((await mesh.apcs.receiveCodes(order.orderId)).storedCodes).toBe(140);
  });

  it("code streams cut mid-way on all three links resume after the last stored block: no block twice, none missing", async () => {
    const cut: FaultPlan = { rules: [{ kind: "cutStream", method: "StreamCodes", first: 3, cutAfter: 2 }] };
    fm = await faultyMesh({ apcsToOms: cut, omsToRegistrar: cut, registrarToEmission: cut });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(500), "cut-streams-0001");
    const seen: number[] = [];
    const saved = await mesh.apcs.receiveCodes(order.orderId, { onBlock: (b) => void seen.push(b.seq) });
    expect(seen).toEqual(range(10));
    expect(saved.storedCodes).toBe(500);
    const { codes } = await linesBlocks(mesh.apcs, order.orderId);
    expect(new Set(codes).size).toBe(500);
    for (const name of LINKS) {
      const s = links[name].stats;
      expect(s.injected.cutStream, name).toBe(3);
      expect(s.calls["StreamCodes"], name).toBe(4); // three cut streams, then one that ran to the end
      expect(s.messages["StreamCodes"], name).toBe(10); // 2 + 2 + 2 + 4: each block crossed the link once
      expect(await mesh.count(SERVER_OF[name], "blocks"), name).toBe(10);
    }
    const oms = (await mesh.omsClient().getOrder({ orderId: order.orderId })).order;
    expect([oms?.deliveredCodes, oms?.deliveredBlocks, oms?.bufferStatus]).toEqual([500n, 10, BufferStatus.EXHAUSTED]);
  });

  it("the same business order sent twice by APCS with one request id: one order everywhere, the second reply is a replay", async () => {
    fm = await faultyMesh({});
    const { mesh, links } = fm;
    const spec = milkOrder(60);
    const first = await mesh.apcs.placeOrder(spec, "twice-same-id-0001");
    const second = await mesh.apcs.placeOrder(spec, "twice-same-id-0001");
    expect(second.orderId).toBe(first.orderId);
    expect(links.apcsToOms.stats.calls["CreateOrder"]).toBe(2);
    expect(links.apcsToOms.stats.replays["CreateOrder"]).toBe(1);
    // The same seen by a raw OmsService client of the same line.
    const replay: (string | null)[] = [];
    const third = await mesh.omsClient().createOrder({ order: spec }, { headers: { "x-request-id": "twice-same-id-0001" }, onHeader: (h) => void replay.push(h.get(REPLAY_HEADER)) });
    expect(third.order?.orderId).toBe(first.orderId);
    expect(replay).toEqual(["true"]);
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    // Nothing was forwarded twice: one call went down each link below OMS.
    expect(links.omsToRegistrar.stats.calls["CreatePool"]).toBe(1);
    expect(links.registrarToEmission.stats.calls["CreateEmissionOrder"]).toBe(1);
  });
});
