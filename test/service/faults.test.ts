import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import type { Apcs, OrderSpecInit } from "../../src/apcs/apcs-client.js";
import { REPLAY_HEADER } from "../../src/core/iotp/idempotency-interceptor.js";
import { RETRANSMIT_CODES } from "../../src/core/rpc/transient-codes.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import type { Order } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { FAULT_KINDS, faultyTransport, type FaultPlan, type FaultRule, type FaultyTransport } from "../support/fault-transport.js";
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
const SERVER_OF: Record<LinkName, "oms" | "registrar" | "emission"> = {
  apcsToOms: "oms",
  omsToRegistrar: "registrar",
  registrarToEmission: "emission",
};

interface FaultyMesh {
  mesh: InMemoryMesh;
  links: Record<LinkName, FaultyTransport>;
}

/** The in-memory mesh with a fault-injecting layer on each of its three links. */
async function faultyMesh(plans: Partial<Record<LinkName, FaultPlan>>): Promise<FaultyMesh> {
  const links = {} as Record<LinkName, FaultyTransport>;
  const wrap = (name: LinkName) => (t: Parameters<typeof faultyTransport>[0]) => (links[name] = faultyTransport(t, plans[name] ?? {}));
  const mesh = await inMemoryMesh(
    ENV,
    { apcsToOms: wrap("apcsToOms"), omsToRegistrar: wrap("omsToRegistrar"), registrarToEmission: wrap("registrarToEmission") },
    APCS_OPTIONS,
  );
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

/** Rules that make sure each kind of fault happens at least once on a link, whatever the random draws. */
function everyKindOnce(unary: string): FaultRule[] {
  return [
    { kind: "dropReply", method: unary, calls: [2] },
    { kind: "duplicate", method: unary, calls: [4] },
    { kind: "delay", method: unary, calls: [6] },
    { kind: "failBefore", method: unary, calls: [8] },
    { kind: "cutStream", method: "StreamCodes", calls: [2] },
  ];
}

describe("faults on every link at once: one order per business order, every code once, nothing lost", () => {
  let fm: FaultyMesh | undefined;
  afterEach(async () => {
    await fm?.mesh.close();
    fm = undefined;
  });

  it("runs 20 business orders through drops, duplicates, late requests, refusals and cut streams on all three links", async () => {
    const rates = { dropReply: 0.2, duplicate: 0.2, delay: 0.15, failBefore: 0.2, cutStream: 0.3 };
    fm = await faultyMesh({
      apcsToOms: {
        seed: 101,
        rates,
        rules: [
          // Two placements get no answer at all: the line gives up and sends them again later (retryPlacement).
          { kind: "delay", method: "CreateOrder", key: "fault-run-003", first: 8 },
          { kind: "dropReply", method: "CreateOrder", key: "fault-run-007", first: 8 },
          ...everyKindOnce("CreateOrder"),
        ],
      },
      omsToRegistrar: { seed: 202, rates, rules: everyKindOnce("CreatePool") },
      registrarToEmission: { seed: 303, rates, rules: everyKindOnce("CreateEmissionOrder") },
    });
    const { mesh, links } = fm;
    const specs = Array.from({ length: 20 }, (_, i) => milkOrder(200 + 23 * i));
    const tally = { retried: 0 };

    const orders = await Promise.all(
      specs.map(async (spec, i) => {
        const order = await place(mesh.apcs, spec, `fault-run-${String(i).padStart(3, "0")}`, tally);
        await mesh.apcs.receiveCodes(order.orderId, { signal: AbortSignal.timeout(20_000) });
        return order;
      }),
    );
    await settle(links);
    expect(tally.retried).toBeGreaterThanOrEqual(2);

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
    for (const name of LINKS) expect(links[name].stats.messages.StreamCodes, name).toBe(totalBlocks);
    expect(await mesh.count("oms", "blocks")).toBe(totalBlocks);
    expect(await mesh.count("registrar", "blocks")).toBe(totalBlocks);
    expect(await mesh.count("emission", "blocks")).toBe(totalBlocks);

    // Closing every order through the same faults closes it at every hop.
    const closed = await Promise.all(orders.map((o) => mesh.apcs.closeOrder(o.orderId)));
    expect(closed.map((o) => o.status)).toEqual(orders.map(() => OrderStatus.CLOSED));
    await settle(links);
    for (const o of orders) {
      expect((await mesh.registrarClient.getPool({ orderId: o.orderId })).pool?.status).toBe(PoolStatus.CLOSED);
      expect((await mesh.emitterClient.getEmissionOrder({ orderId: o.orderId })).order?.status).toBe(OrderStatus.CLOSED);
    }
    expect(await counts(mesh)).toEqual([20, 20, 20]);

    // The faults really happened, every kind on every link, and duplicates were answered from stored replies.
    for (const name of LINKS) {
      const s = links[name].stats;
      for (const kind of FAULT_KINDS) expect(s.injected[kind], `${name} ${kind}`).toBeGreaterThan(0);
      expect(
        Object.values(s.replays).reduce((a, b) => a + b, 0),
        `${name} replays`,
      ).toBeGreaterThan(0);
    }
    if (process.env.FAULT_REPORT !== undefined) {
      const report = Object.fromEntries(
        LINKS.map((n) => [
          n,
          {
            injected: links[n].stats.injected,
            calls: links[n].stats.calls,
            replays: links[n].stats.replays,
            late: links[n].stats.lateDelivered,
          },
        ]),
      );
      console.log(JSON.stringify({ placementsRetried: tally.retried, ...report }));
    }
  });
});

describe("each fault on its own", () => {
  let fm: FaultyMesh | undefined;
  afterEach(async () => {
    await fm?.mesh.close();
    fm = undefined;
  });

  it.each([
    { seen: "UNAVAILABLE", dropCode: Code.Unavailable },
    { seen: "DEADLINE_EXCEEDED", dropCode: Code.DeadlineExceeded },
  ] as const)(
    "a CreateOrder reply lost after OMS processed it (the line sees $seen): the retransmission gets the stored reply, one order",
    async ({ dropCode }) => {
      fm = await faultyMesh({ apcsToOms: { rules: [{ kind: "dropReply", method: "CreateOrder", first: 1, dropCode }] } });
      const { mesh, links } = fm;
      const order = await mesh.apcs.placeOrder(milkOrder(120), `drop-reply-${dropCode}`);
      const s = links.apcsToOms.stats;
      expect(s.injected.dropReply).toBe(1);
      expect(s.calls.CreateOrder).toBe(2);
      const dropped = s.events[0]?.droppedReply as { order?: { orderId: string } } | undefined;
      expect(dropped?.order?.orderId).toBe(order.orderId);
      expect(s.replays.CreateOrder).toBe(1);
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
    expect(s.calls.CreatePool).toBe(1);
    // Both copies reached the Registrar: one did the work, the other got its stored reply.
    expect(s.replays.CreatePool).toBe(1);
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    expect((await mesh.apcs.receiveCodes(order.orderId)).storedCodes).toBe(130);
  });

  it("a CreateEmissionOrder held past the Registrar's deadline: the retransmission and the late original make one emission order", async () => {
    fm = await faultyMesh({
      registrarToEmission: { rules: [{ kind: "delay", method: "CreateEmissionOrder", first: 1, delayPastDeadlineMs: 150 }] },
    });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(140), "late-emission-0001");
    await settle(links);
    const s = links.registrarToEmission.stats;
    expect(s.injected.delay).toBe(1);
    expect(s.lateDelivered).toBe(1);
    expect(s.calls.CreateEmissionOrder).toBeGreaterThanOrEqual(2); // the Registrar sent it again
    expect(s.replays.CreateEmissionOrder).toBeGreaterThanOrEqual(1); // the late original found the stored reply
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
      expect(s.calls.StreamCodes, name).toBe(4); // three cut streams, then one that ran to the end
      expect(s.messages.StreamCodes, name).toBe(10); // 2 + 2 + 2 + 4: each block crossed the link once
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
    expect(links.apcsToOms.stats.calls.CreateOrder).toBe(2);
    expect(links.apcsToOms.stats.replays.CreateOrder).toBe(1);
    // The same seen by a raw OmsService client of the same line.
    const replay: (string | null)[] = [];
    const third = await mesh
      .omsClient()
      .createOrder(
        { order: spec },
        { headers: { "x-request-id": "twice-same-id-0001" }, onHeader: (h) => void replay.push(h.get(REPLAY_HEADER)) },
      );
    expect(third.order?.orderId).toBe(first.orderId);
    expect(replay).toEqual(["true"]);
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    // Nothing was forwarded twice: one call went down each link below OMS.
    expect(links.omsToRegistrar.stats.calls.CreatePool).toBe(1);
    expect(links.registrarToEmission.stats.calls.CreateEmissionOrder).toBe(1);
  });
});

/**
 * Faults the mesh must survive that src/ does not handle yet (see the
 * descriptions in each test): these fail until src/ is fixed.
 */
describe("faults of real connections", () => {
  let fm: FaultyMesh | undefined;
  afterEach(async () => {
    await fm?.mesh.close();
    fm = undefined;
  });

  it.each(LINKS)(
    "a code stream on %s broken the way connect-node reports a reset TCP connection (ABORTED: read ECONNRESET) is resumed like any other cut",
    async (link) => {
      // src/core/codes/block-pump.ts counts ABORTED among the codes after which "retrying the stream cannot help".
      fm = await faultyMesh({
        [link]: { rules: [{ kind: "cutStream", method: "StreamCodes", first: 1, cutAfter: 2, cutCode: Code.Aborted }] },
      });
      const { mesh, links } = fm;
      const order = await mesh.apcs.placeOrder(milkOrder(300), `reset-stream-${link}`);
      const saved = await mesh.apcs.receiveCodes(order.orderId, { signal: AbortSignal.timeout(5_000) });
      expect(links[link].stats.injected.cutStream).toBe(1);
      expect(links[link].stats.messages.StreamCodes).toBe(6);
      expect(saved.storedCodes).toBe(300);
      const atOms = (await mesh.omsClient().getOrder({ orderId: order.orderId })).order;
      expect([atOms?.status, atOms?.deliveredCodes]).toEqual([OrderStatus.READY, 300n]);
      expect((await mesh.registrarClient.getPool({ orderId: order.orderId })).pool?.status).toBe(PoolStatus.READY);
    },
  );

  it("a CreateOrder whose connection is reset after OMS processed it (ABORTED: read ECONNRESET) is sent again and answered from the stored reply", async () => {
    // src/core/rpc/transient-codes.ts: RETRANSMIT_CODES leaves out ABORTED, so the line gives the placement up as failed.
    fm = await faultyMesh({ apcsToOms: { rules: [{ kind: "dropReply", method: "CreateOrder", first: 1, dropCode: Code.Aborted }] } });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(70), "reset-create-0001");
    expect(links.apcsToOms.stats.injected.dropReply).toBe(1);
    expect(links.apcsToOms.stats.replays.CreateOrder).toBe(1);
    expect(await counts(mesh)).toEqual([1, 1, 1]);
    expect((await mesh.apcs.receiveCodes(order.orderId)).storedCodes).toBe(70);
  });

  it("the acknowledgement of the last block, lost on every retransmission, is sent again once the link is back: the order completes", async () => {
    // src/apcs/apcs-client.ts acknowledges a block only right after storing it; a resumed stream never re-sends a lost ack.
    fm = await faultyMesh({ apcsToOms: { rules: [{ kind: "failBefore", method: "AcknowledgeBlocks", first: 8 }] } });
    const { mesh, links } = fm;
    const order = await mesh.apcs.placeOrder(milkOrder(40), "last-ack-lost-0001"); // one block, so its ack is the last
    const saved = await mesh.apcs.receiveCodes(order.orderId, { signal: AbortSignal.timeout(3_000) });
    expect(links.apcsToOms.stats.injected.failBefore).toBe(8);
    expect(saved.storedCodes).toBe(40);
    const atOms = (await mesh.omsClient().getOrder({ orderId: order.orderId })).order;
    expect([atOms?.deliveredCodes, atOms?.bufferStatus]).toEqual([40n, BufferStatus.EXHAUSTED]);
  });
});
