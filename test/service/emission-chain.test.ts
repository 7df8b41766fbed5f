import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import { stepOf } from "../../src/core/rpc/error-info.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Collection, CollectionOptions, Doc, Filter, IndexSpec, Store, Update } from "../../src/store/store.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { freshGtin, gtin, milkOrder, selfMadeSerials } from "../support/orders.js";
import { EMISSION_KEYS } from "../support/test-config.js";
import { rejection } from "../support/rejection.js";

describe("process 01.01.00.00 through the in-memory mesh", () => {
  let mesh: InMemoryMesh;
  beforeEach(async () => {
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000", MAX_ACTIVE_ORDERS: "5" });
  });
  afterEach(async () => {
    await mesh.close();
  });

  it("places an order and delivers every code to the line exactly once, each verifying", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(1_050));
    expect(order.status).toBe(OrderStatus.APPROVED);
    expect(order.totalCodes).toBe(1_050n);
    expect(order.readiness?.totalBlocks).toBe(11);

    const saved = await mesh.apcs.receiveCodes(order.orderId);
    expect(saved.storedBlocks).toBe(11);
    expect(saved.storedCodes).toBe(1_050);

    const codes: string[] = [];
    for await (const block of mesh.apcs.codes(order.orderId)) codes.push(...block.codes);
    expect(codes).toHaveLength(1_050);
    expect(new Set(codes).size).toBe(1_050);
    const ring = parseKeyRing(EMISSION_KEYS);
    for (const code of codes) expect(verifyCode(ring, code).valid).toBe(true);

    const oms = await mesh.apcs.getOrder(order.orderId);
    expect(oms.status).toBe(OrderStatus.READY);
    expect(oms.bufferStatus).toBe(BufferStatus.EXHAUSTED);
    expect(oms.deliveredCodes).toBe(1_050n);
    expect(oms.availableCodes).toBe(0n);
  });

  it("answers at once with an order id and a readiness time that counts the work queued ahead", async () => {
    const slow = await inMemoryMesh({ EMISSION_RATE: "1000" });
    try {
      const before = Date.now();
      const first = await slow.apcs.placeOrder(milkOrder(2_000));
      const second = await slow.apcs.placeOrder(milkOrder(1_000));
      const readyAt = (o: typeof first): number => timestampMs(o.readiness!.estimatedReadyTime!);
      expect(readyAt(first)).toBeGreaterThanOrEqual(before + 2_000);
      // The second takes turns with the first (block by block): its own 1 000 codes and one block of the first's, at 1 000 codes/s.
      expect(readyAt(second)).toBeGreaterThanOrEqual(before + 2_000);
      expect(first.status).toBe(OrderStatus.APPROVED);
    } finally {
      await slow.close();
    }
  });

  it("emits SELF_MADE serials as given and refuses them for the same GTIN ever after (step 5)", async () => {
    const g = freshGtin();
    const spec = milkOrder(150, g);
    spec.products = [{ ...spec.products![0], serialNumberType: SerialNumberType.SELF_MADE, serialNumbers: selfMadeSerials(150) }];
    const first = await mesh.apcs.placeOrder(spec);
    await mesh.apcs.receiveCodes(first.orderId);
    const serials: string[] = [];
    for await (const block of mesh.apcs.codes(first.orderId)) serials.push(...block.codes.map((c) => c.slice(18, 31)));
    expect(serials).toEqual(selfMadeSerials(150));

    const again = await rejection(mesh.apcs.placeOrder({ ...spec, productionOrderId: "again" }));
    expect(again.code).toBe(Code.FailedPrecondition);
    expect(fieldViolationsOf(again)[0]?.field).toBe("order.products[0].serial_numbers[0]");
    expect((await mesh.journal("emission")).map((e) => e.step)).toContain("5.1");
  });

  it("streams codes as they are emitted and resumes a stream after the last stored block", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(500));
    const oms = mesh.omsClient();
    await mesh.apcs.receiveCodes(order.orderId);
    const resumed: number[] = [];
    for await (const r of oms.streamCodes({ orderId: order.orderId, afterBlock: 3 })) resumed.push(r.block?.seq ?? 0);
    expect(resumed).toEqual([4, 5]);
  });

  it("fetches a block again by its id until the order is closed", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(250));
    await mesh.apcs.receiveCodes(order.orderId);
    const block = await mesh.apcs.fetchBlock(order.orderId, `${order.orderId}/2`);
    expect(block.seq).toBe(2);
    expect(block.codes).toHaveLength(100);
    await mesh.apcs.closeOrder(order.orderId);
    const closed = await rejection(mesh.apcs.fetchBlock(order.orderId, `${order.orderId}/2`));
    expect(closed.code).toBe(Code.FailedPrecondition);
  });

  it("closes the order at OMS, the Registrar pool and the emission order", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(300));
    await mesh.apcs.receiveCodes(order.orderId);
    const closed = await mesh.apcs.closeOrder(order.orderId);
    expect(closed.status).toBe(OrderStatus.CLOSED);
    expect(closed.bufferStatus).toBe(BufferStatus.CLOSED);
    expect((await mesh.registrarClient.getPool({ orderId: order.orderId })).pool?.status).toBe(PoolStatus.CLOSED);
    expect((await mesh.emitterClient.getEmissionOrder({ orderId: order.orderId })).order?.status).toBe(OrderStatus.CLOSED);
    // Closing twice is harmless.
    expect((await mesh.apcs.closeOrder(order.orderId)).status).toBe(OrderStatus.CLOSED);
  });

  it("follows the order's status through WatchOrder until it is closed", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(400));
    const seen: { status: OrderStatus; buffer: BufferStatus }[] = [];
    const watching = (async () => {
      for await (const o of mesh.apcs.watch(order.orderId)) seen.push({ status: o.status, buffer: o.bufferStatus });
    })();
    await mesh.apcs.receiveCodes(order.orderId);
    await mesh.apcs.closeOrder(order.orderId);
    await watching;
    expect(seen.map((s) => s.status)).toContain(OrderStatus.READY);
    expect(seen.map((s) => s.buffer)).toContain(BufferStatus.EXHAUSTED);
    expect(seen.at(-1)).toEqual({ status: OrderStatus.CLOSED, buffer: BufferStatus.CLOSED });
  });

  it("limits a participant to its configured number of active orders, freeing a slot on close", async () => {
    const orders = [];
    for (let i = 0; i < 5; i++) orders.push(await mesh.apcs.placeOrder(milkOrder(1)));
    const sixth = await rejection(mesh.apcs.placeOrder(milkOrder(1)));
    expect(sixth.code).toBe(Code.FailedPrecondition);
    expect(sixth.rawMessage).toMatch(/active orders/);
    await mesh.apcs.closeOrder(orders[0]!.orderId);
    await expect(mesh.apcs.placeOrder(milkOrder(1))).resolves.toBeDefined();
  });
});

describe("error branches of process 01.01.00.00", () => {
  let mesh: InMemoryMesh;
  beforeEach(async () => {
    mesh = await inMemoryMesh();
  });
  afterEach(async () => {
    await mesh.close();
  });

  async function stepsJournaled(ref: string): Promise<Record<string, string[]>> {
    const steps = async (role: "emission" | "registrar" | "oms") => (await mesh.journal(role, ref)).map((e) => e.step);
    return {
      emission: await steps("emission"),
      registrar: await steps("registrar"),
      oms: await steps("oms"),
      apcs: (await mesh.apcs.journal.list({ orderId: ref })).entries.map((e) => e.step),
    };
  }

  it("2.1-2.2: a malformed request is refused and journaled by OMS, goes no further, and reaches the line as INVALID_ARGUMENT with field violations", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "malformed-1";
    spec.products![0]!.gtin = "46000";
    const err = await rejection(mesh.apcs.placeOrder(spec, "req-malformed-1"));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(stepOf(err)).toBe("2");
    expect(fieldViolationsOf(err).map((v) => v.field)).toContain("order.products[0].gtin");
    // OMS runs the Emission server's step 4 rules at its step 2: the request never travels down.
    expect(await stepsJournaled("malformed-1")).toEqual({ emission: [], registrar: [], oms: ["2.1"], apcs: ["17.1"] });
    const [apcsEntry] = (await mesh.apcs.journal.list({ orderId: "malformed-1" })).entries;
    expect(apcsEntry?.requestId).toBe("req-malformed-1");
    expect(apcsEntry?.code).toBe("INVALID_ARGUMENT");
    expect(apcsEntry?.cause).toMatch(/gtin/);
  });

  it("3.1-3.2 and 4.1-4.2: the Registrar and the Emission server refuse a malformed request that reaches them, each journaling its own step", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "malformed-below";
    spec.products![0]!.gtin = "46000";
    const atRegistrar = await rejection(
      mesh.registrarClient.createPool({ participantId: "7700000001", order: spec }, { headers: { "x-request-id": "malformed-below-1" } }),
    );
    const atEmission = await rejection(
      mesh.emitterClient.createEmissionOrder(
        { participantId: "7700000001", order: spec },
        { headers: { "x-request-id": "malformed-below-2" } },
      ),
    );
    expect([atRegistrar.code, stepOf(atRegistrar), atEmission.code, stepOf(atEmission)]).toEqual([
      Code.InvalidArgument,
      "3",
      Code.InvalidArgument,
      "4",
    ]);
    expect(await stepsJournaled("malformed-below")).toEqual({ emission: ["4.1"], registrar: ["3.1"], oms: [], apcs: [] });
  });

  it("5.1-5.3: an order breaking a business rule reaches the line as FAILED_PRECONDITION naming the field", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "bad-check-digit";
    const good = spec.products![0]!.gtin!;
    spec.products![0]!.gtin = good.slice(0, 13) + String((Number(good[13]) + 1) % 10);
    const err = await rejection(mesh.apcs.placeOrder(spec));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(stepOf(err)).toBe("5");
    expect(fieldViolationsOf(err)[0]?.field).toBe("order.products[0].gtin");
    expect(await stepsJournaled("bad-check-digit")).toEqual({ emission: ["5.1"], registrar: ["9.1"], oms: ["13.1"], apcs: ["17.1"] });
  });

  it("names the unknown order in NOT_FOUND, and hides another participant's order", async () => {
    const order = await mesh.apcs.placeOrder(milkOrder(5, gtin("0460123456789")));
    const missing = await rejection(mesh.omsClient().getOrder({ orderId: "no-such-order" }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toMatch(/no-such-order/);
    const other = await rejection(mesh.omsClient("t-apcs-2").getOrder({ orderId: order.orderId }));
    expect(other.code).toBe(Code.NotFound);
  });
});

describe("the line's saved status (step 18.1)", () => {
  it("is written when OMS reports another status, not for each message that only moves OMS's counters", async () => {
    const line = new MemoryStore();
    /** The status and buffer status each status write of the saved order set. */
    const written: string[] = [];
    const counting: Store = {
      async collection<T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions) {
        const c = await line.collection<T>(name, indexes, options);
        if (name !== "orders") return c;
        return Object.assign(Object.create(c) as Collection<T>, {
          updateOne: async (filter: Filter<T>, update: Update<T>) => {
            const after = await c.updateOne(filter, update);
            const set = update.$set as { status?: OrderStatus; bufferStatus?: BufferStatus } | undefined;
            if (set?.status !== undefined) written.push(`${OrderStatus[set.status]}/${BufferStatus[set.bufferStatus ?? 0]}`);
            return after;
          },
        });
      },
      close: () => line.close(),
    };
    const mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000" }, {}, { store: counting });
    try {
      const order = await mesh.apcs.placeOrder(milkOrder(5_000));
      await mesh.apcs.receiveCodes(order.orderId);
      // Every block stored at OMS and every acknowledgement moved its counters; the order's status moved a few times only.
      await vi.waitFor(async () => expect((await mesh.apcs.savedOrder(order.orderId)).status).toBe(OrderStatus.READY));
      // Each write sets what the one before did not: no write repeats the saved status.
      expect(written.filter((w, i) => w === written[i - 1])).toEqual([]);
      expect(written.at(-1)).toBe("READY/EXHAUSTED");
    } finally {
      await mesh.close();
      await line.close();
    }
  });
});
