import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../src/core/runtime/sleep.js";
import { REPLAY_HEADER } from "../../src/core/iotp/idempotency-interceptor.js";
import { PUSHBACK_TRAILER, retryHintOf } from "../../src/core/rpc/retry-hint.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { faultyTransport } from "../support/fault-transport.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { rejection } from "../support/rejection.js";

/** A link on which every unary call takes `ms` longer. */
function slowLink(ms: number): (t: Transport) => Transport {
  return (t) => ({
    async unary(method, signal, timeoutMs, header, input, values) {
      await sleep(ms);
      return t.unary(method, signal, timeoutMs, header, input, values);
    },
    stream: (method, signal, timeoutMs, header, input, values) => t.stream(method, signal, timeoutMs, header, input, values),
  });
}

/** A link that is down until `up()` is called. */
function switchableLink(): { link: (t: Transport) => Transport; up(): void } {
  let down = true;
  return {
    up: () => (down = false),
    link: (t) => ({
      async unary(method, signal, timeoutMs, header, input, values) {
        if (down) throw new ConnectError("link down", Code.Unavailable);
        return t.unary(method, signal, timeoutMs, header, input, values);
      },
      stream: (method, signal, timeoutMs, header, input, values) => t.stream(method, signal, timeoutMs, header, input, values),
    }),
  };
}

const FAST = {
  BLOCK_SIZE: "100",
  EMISSION_RATE: "1000000",
  RETRANSMIT_ATTEMPTS: "2",
  RETRANSMIT_BACKOFF_MS: "10",
  RETRANSMIT_MAX_BACKOFF_MS: "20",
};

describe("stored replies (IOTP §4.5.2) across the mesh", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("answers a repeated CreateOrder from the stored reply, marked as a replay, with one order at every hop", async () => {
    mesh = await inMemoryMesh(FAST);
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "create-once-0001" };
    const replayed: (string | null)[] = [];
    const first = await oms.createOrder({ order: milkOrder(250) }, { headers, onHeader: (h) => replayed.push(h.get(REPLAY_HEADER)) });
    const again = await oms.createOrder(
      { order: first.order ? milkOrder(250, first.order.productionOrderId.slice(3)) : {} },
      { headers, onHeader: (h) => replayed.push(h.get(REPLAY_HEADER)) },
    );
    expect(again.order?.orderId).toBe(first.order?.orderId);
    expect(replayed).toEqual([null, "true"]);
    expect([await mesh.count("oms", "orders"), await mesh.count("registrar", "pools"), await mesh.count("emission", "orders")]).toEqual([
      1, 1, 1,
    ]);
  });

  it("refuses the same request id with a different payload, naming the mismatch", async () => {
    mesh = await inMemoryMesh(FAST);
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "create-once-0002" };
    await oms.createOrder({ order: milkOrder(10) }, { headers });
    const err = await rejection(oms.createOrder({ order: milkOrder(11) }, { headers }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/already used for a different CreateOrder request/);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("REQUEST_ID_REUSED");
    expect(await mesh.count("emission", "orders")).toBe(1);
  });

  it("stores failures too: a repeated refused order gets the same error without reaching the Emission server again", async () => {
    mesh = await inMemoryMesh(FAST);
    const spec = milkOrder(10);
    spec.productionOrderId = "stored-failure";
    // A wrong check digit: only the Emission server refuses it (step 5); a malformed order would stop at OMS (2.1).
    const good = spec.products![0]!.gtin!;
    spec.products![0]!.gtin = good.slice(0, 13) + String((Number(good[13]) + 1) % 10);
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "create-bad-0001" };
    const first = await rejection(oms.createOrder({ order: spec }, { headers }));
    const second = await rejection(oms.createOrder({ order: spec }, { headers }));
    expect([first.code, second.code]).toEqual([Code.FailedPrecondition, Code.FailedPrecondition]);
    expect(second.rawMessage).toBe(first.rawMessage);
    expect(second.metadata.get(REPLAY_HEADER)).toBe("true");
    expect(second.details).toHaveLength(first.details.length);
    expect((await mesh.journal("emission", "stored-failure")).map((e) => e.step)).toEqual(["5.1"]);
  });

  it("does the work once for concurrent duplicates, which all get the original's reply", async () => {
    mesh = await inMemoryMesh(FAST, { omsToRegistrar: slowLink(100) });
    const oms = mesh.omsClient();
    const spec = milkOrder(100);
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => oms.createOrder({ order: spec }, { headers: { "x-request-id": "concurrent-0001" } })),
    );
    expect(new Set(replies.map((r) => r.order?.orderId)).size).toBe(1);
    expect([await mesh.count("oms", "orders"), await mesh.count("registrar", "pools"), await mesh.count("emission", "orders")]).toEqual([
      1, 1, 1,
    ]);
  });

  it("tells a duplicate that outwaits its patience that the request is being processed, with a retry hint", async () => {
    mesh = await inMemoryMesh({ ...FAST, DUPLICATE_WAIT_MS: "50", RETRY_HINT_MS: "300" }, { omsToRegistrar: slowLink(400) });
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "slow-create-0001" };
    const spec = milkOrder(5);
    const original = oms.createOrder({ order: spec }, { headers });
    await sleep(20);
    const duplicate = await rejection(oms.createOrder({ order: spec }, { headers }));
    expect(duplicate.code).toBe(Code.Unavailable);
    expect(duplicate.rawMessage).toMatch(/being processed/);
    expect(retryHintOf(duplicate)).toBe(300);
    const done = await original;
    expect((await oms.createOrder({ order: spec }, { headers })).order?.orderId).toBe(done.order?.orderId);
  });

  it("never stores a transient error: the retry after the Registrar comes back is processed afresh", async () => {
    const link = switchableLink();
    mesh = await inMemoryMesh(FAST, { omsToRegistrar: link.link });
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "transient-0001" };
    expect((await rejection(oms.createOrder({ order: milkOrder(5) }, { headers }))).code).toBe(Code.Unavailable);
    link.up();
    const created = await oms.createOrder({ order: milkOrder(5) }, { headers });
    expect(created.order?.status).toBe(OrderStatus.APPROVED);
  });

  it("forgets stored replies after their time to live", async () => {
    // A stored reply outlives every retransmission of its call: 2 × (CALL_TIMEOUT_MS + RETRANSMIT_MAX_BACKOFF_MS) = 440 ms.
    mesh = await inMemoryMesh({ ...FAST, REPLY_TTL_MS: "440", CALL_TIMEOUT_MS: "200" });
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "short-lived-0001" };
    const first = await oms.createOrder({ order: milkOrder(5) }, { headers });
    await sleep(520);
    const later = await oms.createOrder({ order: milkOrder(5) }, { headers });
    expect(later.order?.orderId).not.toBe(first.order?.orderId);
  });

  it("answers queries afresh, never from stored replies", async () => {
    mesh = await inMemoryMesh(FAST);
    const order = await mesh.apcs.placeOrder(milkOrder(300));
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "query-0001" };
    const before = await oms.getOrder({ orderId: order.orderId }, { headers });
    await mesh.apcs.receiveCodes(order.orderId);
    const after = await oms.getOrder({ orderId: order.orderId }, { headers });
    expect(before.order?.deliveredCodes).toBe(0n);
    expect(after.order?.deliveredCodes).toBe(300n);
  });
});

describe("retransmission by the line controller (IOTP §4.5.4)", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("gives up after its attempts, keeps the placement as timed out, and a later retry makes exactly one order", async () => {
    const link = switchableLink();
    mesh = await inMemoryMesh(FAST, { apcsToOms: link.link }, { retransmit: { attempts: 3, initialBackoffMs: 5, maxBackoffMs: 10 } });
    const spec = milkOrder(20);
    spec.productionOrderId = "timed-out-1";
    const err = await rejection(mesh.apcs.placeOrder(spec, "timed-out-0001"));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/CreateOrder: no reply after 3 attempts/);
    expect((await mesh.apcs.timedOut()).map((p) => p._id)).toEqual(["timed-out-0001"]);
    expect((await mesh.apcs.journal.list({ orderId: "timed-out-1" })).entries.map((e) => e.step)).toEqual(["17.1"]);

    link.up();
    const order = await mesh.apcs.retryPlacement("timed-out-0001");
    expect(order.productionOrderId).toBe("timed-out-1");
    expect(await mesh.apcs.timedOut()).toEqual([]);
    // A second retry is a replay, not a second order.
    expect((await mesh.apcs.retryPlacement("timed-out-0001")).orderId).toBe(order.orderId);
    expect([await mesh.count("oms", "orders"), await mesh.count("emission", "orders")]).toEqual([1, 1]);
  });
});

describe("a hop's CreateOrder below (IOTP §4.5.4)", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("keeps sending below after the line's attempt gave up, so the line's retransmission gets the stored reply", async () => {
    // OMS's first CreatePool is held past OMS's own 300 ms attempt deadline, long after the line's 100 ms ran out.
    const late = (t: Transport) =>
      faultyTransport(t, { rules: [{ kind: "delay", method: "CreatePool", first: 1, delayPastDeadlineMs: 50 }] });
    mesh = await inMemoryMesh({ ...FAST, CALL_TIMEOUT_MS: "300" }, { omsToRegistrar: late });
    const oms = mesh.omsClient();
    const headers = { "x-request-id": "outlives-line-0001" };
    const order = milkOrder(10);
    const err = await rejection(oms.createOrder({ order }, { headers, timeoutMs: 100 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    // OMS sent CreatePool again on its own and stored the outcome: it did not drop the run with its caller.
    await vi.waitFor(async () => expect(await mesh.count("oms", "orders")).toBe(1), { timeout: 5_000, interval: 50 });
    const replayed: (string | null)[] = [];
    const again = await oms.createOrder({ order }, { headers, onHeader: (h) => replayed.push(h.get(REPLAY_HEADER)) });
    expect(replayed).toEqual(["true"]);
    expect(again.order?.productionOrderId).toBe(order.productionOrderId);
    expect([await mesh.count("oms", "orders"), await mesh.count("registrar", "pools"), await mesh.count("emission", "orders")]).toEqual([
      1, 1, 1,
    ]);
  });
});

describe("admission control under overload", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("refuses calls past the bound at once with RESOURCE_EXHAUSTED and a retry hint, and finishes every accepted call", async () => {
    mesh = await inMemoryMesh({ ...FAST, MAX_IN_FLIGHT: "2", RETRY_HINT_MS: "200" }, { omsToRegistrar: slowLink(150) });
    const oms = mesh.omsClient();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        oms.createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": `overload-${String(i).padStart(4, "0")}` } }),
      ),
    );
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => ConnectError.from((o as PromiseRejectedResult).reason));
    const accepted = outcomes.filter((o) => o.status === "fulfilled");
    expect(accepted).toHaveLength(2);
    expect(refused).toHaveLength(6);
    for (const e of refused) {
      expect(e.code).toBe(Code.ResourceExhausted);
      expect(Number(e.metadata.get(PUSHBACK_TRAILER))).toBeGreaterThanOrEqual(200);
      expect(retryHintOf(e)).toBeGreaterThanOrEqual(200);
    }
    expect(await mesh.count("oms", "orders")).toBe(2);
    // Once the load is gone, the same server takes calls again.
    await expect(oms.createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": "overload-after" } })).resolves.toBeDefined();
  });

  it("lets a retransmitting line controller place every order through the overload, each exactly once", async () => {
    mesh = await inMemoryMesh(
      { ...FAST, MAX_IN_FLIGHT: "2", RETRY_HINT_MS: "20" },
      { omsToRegistrar: slowLink(30) },
      { retransmit: { attempts: 30, initialBackoffMs: 10, maxBackoffMs: 50 } },
    );
    const orders = await Promise.all(Array.from({ length: 10 }, () => mesh.apcs.placeOrder(milkOrder(5))));
    expect(new Set(orders.map((o) => o.orderId)).size).toBe(10);
    expect([await mesh.count("oms", "orders"), await mesh.count("emission", "orders")]).toEqual([10, 10]);
  });
});

describe("cancel (IOTP §4.5.3) down the chain", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("stops emission, voids undelivered codes, ends open streams and is idempotent", async () => {
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "2000" });
    const order = await mesh.apcs.placeOrder(milkOrder(2_000));
    const delivered: string[] = [];
    let cancelled: Promise<unknown> | undefined;
    const receiving = mesh.apcs.receiveCodes(order.orderId, {
      onBlock: (b) => {
        delivered.push(...b.codes);
        if (b.seq === 2) cancelled ??= mesh.apcs.cancelOrder({ orderId: order.orderId }, "line stopped");
      },
    });
    const streamEnd = await rejection(receiving);
    await cancelled;
    expect(streamEnd.code).toBe(Code.FailedPrecondition);
    expect(streamEnd.rawMessage).toMatch(/CANCELLED/);

    const oms = (await mesh.omsClient().getOrder({ orderId: order.orderId })).order;
    expect([oms?.status, oms?.bufferStatus]).toEqual([OrderStatus.CANCELLED, BufferStatus.CANCELLED]);
    expect((await mesh.registrarClient.getPool({ orderId: order.orderId })).pool?.status).toBe(PoolStatus.CANCELLED);
    const emitted = (await mesh.emitterClient.getEmissionOrder({ orderId: order.orderId })).order;
    expect(emitted?.status).toBe(OrderStatus.CANCELLED);
    expect(emitted?.emittedCodes).toBeLessThan(2_000n);

    // Codes the line acknowledged stay valid; nothing after them can be verified.
    const acknowledged = Number(oms?.deliveredCodes ?? 0n);
    expect((await mesh.emitterClient.verifyCode({ code: delivered[0]! })).valid).toBe(true);
    for (const code of delivered.slice(acknowledged)) {
      const v = await mesh.emitterClient.verifyCode({ code });
      expect([v.valid, v.reason]).toEqual([false, expect.stringMatching(/voided/)]);
    }
    const after = await rejection(mesh.omsClient().streamCodes({ orderId: order.orderId, afterBlock: 0 })[Symbol.asyncIterator]().next());
    expect(after.code).toBe(Code.FailedPrecondition);

    const twice = await mesh.apcs.cancelOrder({ orderId: order.orderId });
    expect(twice?.status).toBe(OrderStatus.CANCELLED);
    await sleep(100);
    expect((await mesh.emitterClient.getEmissionOrder({ orderId: order.orderId })).order?.emittedCodes).toBe(emitted?.emittedCodes);
  });

  it("cancels an order still being created, by its CreateOrder request id, whichever arrives first", async () => {
    mesh = await inMemoryMesh(FAST, { omsToRegistrar: slowLink(100) });
    const oms = mesh.omsClient();
    const placing = oms.createOrder({ order: milkOrder(50) }, { headers: { "x-request-id": "race-create-0001" } });
    await sleep(20);
    const early = await mesh.apcs.cancelOrder({ createRequestId: "race-create-0001" });
    expect(early).toBeUndefined();
    const created = await placing;
    expect(created.order?.status).toBe(OrderStatus.CANCELLED);
    expect((await mesh.emitterClient.getEmissionOrder({ orderId: created.order!.orderId })).order?.status).toBe(OrderStatus.CANCELLED);

    // Cancelled before it ever arrived: the create is refused, and no order is made anywhere.
    await mesh.apcs.cancelOrder({ createRequestId: "never-sent-0001" });
    const refused = await rejection(oms.createOrder({ order: milkOrder(50) }, { headers: { "x-request-id": "never-sent-0001" } }));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(await mesh.count("emission", "orders")).toBe(1);
  });

  it("never restarts a cancelled order: a retransmitted create gets its stored reply, and close is refused", async () => {
    mesh = await inMemoryMesh(FAST);
    const order = await mesh.apcs.placeOrder(milkOrder(50), "restart-0001");
    await mesh.apcs.cancelOrder({ orderId: order.orderId });
    const again = await mesh
      .omsClient()
      .createOrder({ order: milkOrder(50, order.productionOrderId.slice(3)) }, { headers: { "x-request-id": "restart-0001" } });
    expect(again.order?.orderId).toBe(order.orderId);
    expect(await mesh.count("emission", "orders")).toBe(1);
    const close = await rejection(mesh.apcs.closeOrder(order.orderId));
    expect(close.code).toBe(Code.FailedPrecondition);
    expect(close.rawMessage).toMatch(/CANCELLED/);
  });
});
