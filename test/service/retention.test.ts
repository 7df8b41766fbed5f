import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Store } from "../../src/store/store.js";
import { Journal } from "../../src/core/iotp/journal.js";
import { ReplyStore } from "../../src/core/iotp/reply-store.js";
import { measuredStore } from "../../src/store/measured-store.js";
import { reasonOf } from "../../src/core/rpc/error-info.js";
import { onBothStores } from "../support/both-stores.js";
import { forwarding, wrappedStore } from "../support/store-wrappers.js";
import { rejection } from "../support/rejection.js";
import { sleep } from "../../src/core/runtime/sleep.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

/** The store with its counts held while hold() lasts (a slow scan); every other operation goes through. */
function heldCounts(inner: Store): { store: Store; hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open = (): void => undefined;
  const store = wrappedStore(inner, (c) => ({
    ...forwarding(c),
    count: async (filter) => {
      await gate;
      return c.count(filter);
    },
  }));
  return {
    store,
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => {
      gate = undefined;
      open();
    },
  };
}
const alive = { id: "a", isAlive: async () => true };
const DAY = 24 * 60 * 60 * 1000;

function entry(participantId: string, n: number) {
  return { step: "2.1", orderId: `order-${n}`, requestId: `req-${n}`, participantId, error: new ConnectError("bad", Code.InvalidArgument) };
}

onBothStores((open) => {
  it("Journal: drops entries past their retention, and the oldest of a participant beyond its cap", async () => {
    const journal = await Journal.open(await open(), "oms", silent, { retentionMs: DAY, maxPerCaller: 3 });
    for (let n = 1; n <= 5; n++) {
      await journal.record(entry("p1", n));
      await sleep(2); // ids order entries by their millisecond
    }
    await journal.record(entry("p2", 6));
    await journal.sweep();
    const p1 = (await journal.list({ participantId: "p1" })).entries.map((e) => e.orderId);
    expect(p1).toEqual(["order-5", "order-4", "order-3"]);
    expect((await journal.list({ participantId: "p2" })).entries).toHaveLength(1);
    // A day and a bit later every entry is past its retention.
    await journal.sweep(Date.now() + DAY + 1_000);
    expect((await journal.list({})).entries).toEqual([]);
  });

  it("ReplyStore: refuses a new call past the caller's quota, still answers a stored one, and counts no expired reply", async () => {
    const replies = await ReplyStore.open(await open(), 60_000, 30_000, alive, { perParticipant: 2, perRole: 3 });
    const t = Date.now();
    for (const key of ["a|1", "a|2"]) {
      expect((await replies.claim(key, "d", t, "apcs:p1")).kind).toBe("new");
      await replies.complete(key, { response: "" });
    }
    const over = await rejection(replies.claim("a|3", "d", t, "apcs:p1"));
    expect([over.code, reasonOf(over)]).toEqual([Code.ResourceExhausted, "CALLER_QUOTA"]);
    expect(await replies.get("a|3")).toBeUndefined();
    // A retransmission of a stored call is answered whatever the quota; another participant has its own.
    expect((await replies.claim("a|1", "d", t, "apcs:p1")).kind).toBe("done");
    expect((await replies.claim("b|1", "d", t, "apcs:p2")).kind).toBe("new");
    // The role above has the larger quota.
    for (const key of ["o|1", "o|2", "o|3"]) expect((await replies.claim(key, "d", t, "oms:")).kind).toBe("new");
    expect((await rejection(replies.claim("o|4", "d", t, "oms:"))).code).toBe(Code.ResourceExhausted);
    // Past their time to live the replies no longer count, and the sweep forgets them.
    const later = t + 61_000;
    expect((await replies.claim("a|4", "d", later, "apcs:p1")).kind).toBe("new");
    expect(await replies.sweep(later)).toBeGreaterThanOrEqual(5);
  });

  it("ReplyStore: counts a caller's replies once in a while far below its quota (seldom below half of it), off the claim's path, and at every new claim near it", async () => {
    let counts = 0;
    const held = heldCounts(await open());
    const counting = measuredStore(held.store, (_collection, operation) => {
      if (operation === "count") counts++;
    });
    const replies = await ReplyStore.open(counting, 60_000, 30_000, alive, { perParticipant: 20, perRole: 1_000 });
    const t = Date.now();
    for (let i = 0; i < 10; i++) expect((await replies.claim(`far|${i}`, "d", t, "oms:")).kind).toBe("new");
    await vi.waitFor(() => expect(counts).toBe(1));
    // Below half its quota a count seconds old is good enough: no scan.
    expect((await replies.claim("far|a", "d", t + 2_500, "oms:")).kind).toBe("new");
    expect(counts).toBe(1);
    // Past the recount interval it counts again, in the background: the claim does not wait for the scan.
    held.hold();
    const claimed = replies.claim("far|10", "d", t + 30_500, "oms:").then((c) => c.kind);
    expect(await Promise.race([claimed, sleep(2_000).then(() => "still waiting for the count")])).toBe("new");
    expect(counts).toBe(1);
    held.release();
    await vi.waitFor(() => expect(counts).toBe(2));
    // Near the quota every new claim is counted, and the one past it is refused.
    counts = 0;
    for (let i = 0; i < 20; i++) expect((await replies.claim(`near|${i}`, "d", t, "apcs:p1")).kind).toBe("new");
    expect(counts).toBeGreaterThanOrEqual(3);
    expect(reasonOf(await rejection(replies.claim("near|20", "d", t, "apcs:p1")))).toBe("CALLER_QUOTA");
  });

  it("ReplyStore: counts a caller it has not counted yet off the path of its first claims (a tenth of its quota, at most 100), then on the path", async () => {
    let counts = 0;
    const held = heldCounts(await open());
    const counting = measuredStore(held.store, (_collection, operation) => {
      if (operation === "count") counts++;
    });
    const replies = await ReplyStore.open(counting, 60_000, 30_000, alive, { perParticipant: 20, perRole: 2_000 });
    const t = Date.now();
    // The first count does not come back: the first 100 claims go on meanwhile.
    held.hold();
    for (let i = 0; i < 100; i++) expect((await replies.claim(`new|${i}`, "d", t, "oms:")).kind).toBe("new");
    expect(counts).toBe(0);
    // The next one waits for a count.
    const next = replies.claim("new|100", "d", t, "oms:").then((c) => c.kind);
    expect(await Promise.race([next, sleep(300).then(() => "waiting for the count")])).toBe("waiting for the count");
    held.release();
    expect(await next).toBe("new");
    expect(counts).toBeGreaterThanOrEqual(1);
  });

  it("ReplyStore: counts in the background one caller after another, never several at once", async () => {
    let started = 0;
    const held = heldCounts(await open());
    const counting = wrappedStore(held.store, (c) => ({
      ...forwarding(c),
      count: (filter) => {
        started++;
        return c.count(filter);
      },
    }));
    const replies = await ReplyStore.open(counting, 60_000, 30_000, alive, { perParticipant: 1_000, perRole: 2_000 });
    const t = Date.now();
    held.hold();
    for (const p of ["p1", "p2", "p3"]) expect((await replies.claim(`${p}|1`, "d", t, `apcs:${p}`)).kind).toBe("new");
    await sleep(100);
    expect(started).toBe(1);
    held.release();
    await vi.waitFor(() => expect(started).toBe(3));
  });

  it("ReplyStore: lets a caller already at its quota, new to this instance (a restart, another instance), make a tenth of it more at most", async () => {
    const store = await open();
    const quota = { perParticipant: 20, perRole: 1_000 };
    const before = await ReplyStore.open(store, 60_000, 30_000, alive, quota);
    const t = Date.now();
    for (let i = 0; i < 20; i++) expect((await before.claim(`a|${i}`, "d", t, "apcs:p1")).kind).toBe("new");
    const after = await ReplyStore.open(store, 60_000, 30_000, alive, quota);
    const kinds: string[] = [];
    for (let i = 20; i < 26; i++)
      kinds.push(
        await after.claim(`a|${i}`, "d", t, "apcs:p1").then(
          (c) => c.kind,
          (err: unknown) => reasonOf(ConnectError.from(err)) ?? "no reason",
        ),
      );
    expect(kinds.filter((k) => k === "new").length).toBeLessThanOrEqual(2);
    expect(kinds.at(-1)).toBe("CALLER_QUOTA");
  });
});

describe("OMS cancel marks", () => {
  let mesh: InMemoryMesh | undefined;
  afterEach(async () => {
    await mesh?.close();
    mesh = undefined;
  });

  it("refuses a new mark past the participant's cap (CALLER_QUOTA), keeps repeating an existing one, and forgets marks after their retention", async () => {
    mesh = await inMemoryMesh({ CANCEL_MARK_MAX_PER_CALLER: "2", CANCEL_MARK_RETENTION_MS: "2000" });
    const oms = mesh.omsClient();
    const cancel = (createRequestId: string, id: string) => oms.cancelOrder({ createRequestId }, { headers: { "x-request-id": id } });
    await cancel("never-placed-0001", "cancel-mark-0001");
    await cancel("never-placed-0002", "cancel-mark-0002");
    const over = await rejection(cancel("never-placed-0003", "cancel-mark-0003"));
    expect([over.code, reasonOf(over)]).toEqual([Code.ResourceExhausted, "CALLER_QUOTA"]);
    await cancel("never-placed-0001", "cancel-mark-0004"); // the same mark again: no new one
    // Another participant has a cap of its own.
    await mesh
      .omsClient(TOKENS.apcsOther)
      .cancelOrder({ createRequestId: "never-placed-0003" }, { headers: { "x-request-id": "cancel-mark-0005" } });
    expect(await mesh.count("oms", "cancel_marks")).toBe(3);
    // Marked: refused. Once the mark expired, the same request id places an order.
    const marked = await rejection(oms.createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": "never-placed-0002" } }));
    expect(marked.code).toBe(Code.FailedPrecondition);
    await sleep(2_100);
    const placed = await oms.createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": "never-placed-0001" } });
    expect(placed.order?.status).toBe(OrderStatus.APPROVED);
  });
});

describe("refused calls", () => {
  it("leave the stored replies and the journal untouched but for one aggregate entry per cause", async () => {
    const mesh = await inMemoryMesh();
    try {
      await mesh.apcs.placeOrder(milkOrder(5), "refusals-ok-0001");
      const [replies, journal] = [await mesh.count("oms", "replies"), await mesh.count("oms", "journal")];
      const anonymous = createClient(OmsService, inMemoryTransport(mesh.oms.spec));
      const forged = createClient(OmsService, mesh.to("oms", "forged-token"));
      for (let n = 0; n < 40; n++) {
        const headers = { "x-request-id": n % 2 === 0 ? `HUGE-${"z".repeat(10_000)}` : `bad id ${n}` };
        const client = n < 20 ? anonymous : forged;
        expect((await rejection(client.createOrder({ order: milkOrder(5) }, { headers }))).code).toBe(Code.Unauthenticated);
      }
      // A caller with a token and a malformed request id: refused as malformed, before any reply is stored.
      const malformed = await rejection(mesh.omsClient().createOrder({ order: milkOrder(5) }, { headers: { "x-request-id": "bad id" } }));
      expect(reasonOf(malformed)).toBe("REQUEST_ID_MALFORMED");
      expect([await mesh.count("oms", "replies"), await mesh.count("oms", "journal")]).toEqual([replies, journal]);
      await mesh.oms.spec.refusals.flush();
      const added = (await mesh.journal("oms")).slice(0, (await mesh.count("oms", "journal")) - journal);
      expect(added.map((e) => [e.step, e.participantId, e.requestId, /^\d+ calls? refused \(\w+\)/.exec(e.message)?.[0]]).sort()).toEqual([
        ["auth", "", "", "20 calls refused (TOKEN_MISSING)"],
        ["auth", "", "", "20 calls refused (TOKEN_UNKNOWN)"],
        ["malformed", "7700000001", "", "1 call refused (REQUEST_ID_MALFORMED)"],
      ]);
    } finally {
      await mesh.close();
    }
  });
});
