import { createClient, type Client, Code } from "@connectrpc/connect";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import { GS } from "../../src/domain/code-format.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { milkOrder } from "../support/orders.js";
import { startMesh, startRole, type RoleProcess } from "../support/processes.js";
import { EMISSION_KEYS, TOKENS } from "../support/test-config.js";
import { rejection } from "../support/rejection.js";

const silent = pino({ level: "silent" });

function transport(address: string, token: string) {
  return createDownstreamTransport({ address: parseAddress(address), token, maxMessageBytes: 64 * 1024 * 1024 });
}

function apcsAt(address: string): Promise<Apcs> {
  return Apcs.open({ transport: transport(address, TOKENS.apcs), log: silent, callTimeoutMs: 5_000, retransmit: FAST_GIVE_UP });
}

/** Give up quickly when a role is down: these tests are about what is journaled then. */
const FAST_GIVE_UP = { attempts: 2, initialBackoffMs: 50, maxBackoffMs: 100 };
const FAST_GIVE_UP_ENV = { RETRANSMIT_ATTEMPTS: "2", RETRANSMIT_BACKOFF_MS: "50", RETRANSMIT_MAX_BACKOFF_MS: "100" };

async function journalSteps(p: RoleProcess, orderId: string): Promise<string[]> {
  const r = await createClient(JournalService, transport(p.address, TOKENS.admin)).listJournal({ orderId });
  return r.entries.map((e) => e.step);
}

describe("the mesh as three processes on loopback ports", () => {
  let mesh: Awaited<ReturnType<typeof startMesh>>;
  let apcs: Apcs;
  let emitter: Client<typeof EmitterService>;

  beforeAll(async () => {
    mesh = await startMesh({ EMISSION_RATE: "500000" });
    apcs = await apcsAt(mesh.oms.address);
    emitter = createClient(EmitterService, transport(mesh.emission.address, TOKENS.registrar));
  });
  afterAll(async () => {
    await apcs?.close();
    await mesh?.stop();
  });

  it("runs a 150 000-code order to the line: every code unique, verifying, and delivered exactly once", async () => {
    const order = await apcs.placeOrder(milkOrder(150_000));
    let received = 0;
    const seqs: number[] = [];
    const saved = await apcs.receiveCodes(order.orderId, {
      onBlock: (b) => {
        received += b.codes.length;
        seqs.push(b.seq);
      },
    });
    expect(received).toBe(150_000);
    expect(seqs).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(saved.storedCodes).toBe(150_000);

    const ring = parseKeyRing(EMISSION_KEYS);
    const unique = new Set<string>();
    for await (const block of apcs.codes(order.orderId)) {
      for (const code of block.codes) {
        unique.add(code);
        expect(verifyCode(ring, code).valid).toBe(true);
      }
    }
    expect(unique.size).toBe(150_000);

    const sample = [...unique].slice(0, 20);
    for (const code of sample) expect((await emitter.verifyCode({ code })).valid).toBe(true);
    const tampered = sample[0]!.replace(/92(.)/, (_m, c: string) => `92${c === "A" ? "B" : "A"}`);
    expect((await emitter.verifyCode({ code: tampered })).valid).toBe(false);
    expect(sample[0]!.split(GS)).toHaveLength(3);

    const oms = await apcs.getOrder(order.orderId);
    expect([oms.status, oms.bufferStatus, oms.deliveredCodes]).toEqual([OrderStatus.READY, BufferStatus.EXHAUSTED, 150_000n]);
    const pool = (await createClient(RegistrarService, transport(mesh.registrar.address, TOKENS.oms)).getPool({ orderId: order.orderId }))
      .pool;
    expect([pool?.status, pool?.pooledCodes]).toEqual([PoolStatus.READY, 150_000n]);
    const emitted = (await emitter.getEmissionOrder({ orderId: order.orderId })).order;
    expect([emitted?.status, emitted?.emittedCodes]).toEqual([OrderStatus.READY, 150_000n]);

    expect((await apcs.closeOrder(order.orderId)).status).toBe(OrderStatus.CLOSED);
    expect((await emitter.getEmissionOrder({ orderId: order.orderId })).order?.status).toBe(OrderStatus.CLOSED);
  });

  it("journals a malformed request at OMS (2.1), the first role it reaches, and sends it no further", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "e2e-malformed";
    spec.products![0]!.quantity = 0;
    const err = await rejection(apcs.placeOrder(spec));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(fieldViolationsOf(err).map((v) => v.field)).toContain("order.products[0].quantity");
    // OMS runs the Emission server's step 4 rules at its step 2; the relay chain 9.1 → 13.1 is the next test's.
    expect(await journalSteps(mesh.emission, "e2e-malformed")).toEqual([]);
    expect(await journalSteps(mesh.registrar, "e2e-malformed")).toEqual([]);
    expect(await journalSteps(mesh.oms, "e2e-malformed")).toEqual(["2.1"]);
    expect((await apcs.journal.list({ orderId: "e2e-malformed" })).entries.map((e) => e.step)).toEqual(["17.1"]);
  });

  it("journals a business-rule failure at the Emission server (5.1) and at each hop above it", async () => {
    const spec = milkOrder(10);
    spec.productionOrderId = "e2e-template";
    spec.products![0]!.templateId = 1; // a shoes template on a milk order
    const err = await rejection(apcs.placeOrder(spec));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(fieldViolationsOf(err).map((v) => v.field)).toContain("order.products[0].template_id");
    expect(await journalSteps(mesh.emission, "e2e-template")).toEqual(["5.1"]);
    expect(await journalSteps(mesh.registrar, "e2e-template")).toEqual(["9.1"]);
    expect(await journalSteps(mesh.oms, "e2e-template")).toEqual(["13.1"]);
  });
});

describe("the mesh when a role below is down", () => {
  it("journals 9.1 at the Registrar, 13.1 at OMS and 17.1 at the line when the Emission server is down", async () => {
    const mesh = await startMesh({ CALL_TIMEOUT_MS: "3000", ...FAST_GIVE_UP_ENV });
    const apcs = await apcsAt(mesh.oms.address);
    try {
      await mesh.emission.stop("SIGKILL");
      const spec = milkOrder(10);
      spec.productionOrderId = "e2e-no-emission";
      const err = await rejection(apcs.placeOrder(spec));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toMatch(/Emission server did not answer: CreateEmissionOrder: no reply after 2 attempts/);
      // Every retransmitted attempt that failed is journaled, each under the step that found it.
      expect(new Set(await journalSteps(mesh.registrar, "e2e-no-emission"))).toEqual(new Set(["9.1"]));
      expect(new Set(await journalSteps(mesh.oms, "e2e-no-emission"))).toEqual(new Set(["13.1"]));
      expect((await apcs.journal.list({ orderId: "e2e-no-emission" })).entries.map((e) => e.step)).toEqual(["17.1"]);
    } finally {
      await apcs.close();
      await mesh.stop();
    }
  });

  it("journals 13.1 at OMS when the Registrar is down, and 17.1 at the line when OMS is down", async () => {
    const emission = await startRole("emission-server", {});
    const registrar = await startRole("registrar", { EMISSION_SERVER_ADDR: emission.address, ...FAST_GIVE_UP_ENV });
    const oms = await startRole("oms", { REGISTRAR_ADDR: registrar.address, CALL_TIMEOUT_MS: "3000", ...FAST_GIVE_UP_ENV });
    const apcs = await apcsAt(oms.address);
    try {
      await registrar.stop("SIGKILL");
      const spec = milkOrder(10);
      spec.productionOrderId = "e2e-no-registrar";
      expect((await rejection(apcs.placeOrder(spec))).code).toBe(Code.Unavailable);
      expect(new Set(await journalSteps(oms, "e2e-no-registrar"))).toEqual(new Set(["13.1"]));

      await oms.stop("SIGKILL");
      spec.productionOrderId = "e2e-no-oms";
      expect((await rejection(apcs.placeOrder(spec))).code).toBe(Code.Unavailable);
      expect((await apcs.journal.list({ orderId: "e2e-no-oms" })).entries.map((e) => e.step)).toEqual(["17.1"]);
    } finally {
      await apcs.close();
      await Promise.all([oms.stop(), registrar.stop(), emission.stop()]);
    }
  });
});
