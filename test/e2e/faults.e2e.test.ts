import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { REPLAY_HEADER } from "../../src/core/iotp/idempotency-interceptor.js";
import { parseKeyRing, verifyCode } from "../../src/domain/crypto-tail.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { startTcpFaultProxy, type CutMode, type TcpFaultProxy, type TcpFaultProxyStats } from "../support/tcp-fault-proxy.js";
import { EMISSION_KEYS, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

function transport(address: string, token: string) {
  return createDownstreamTransport({ address: parseAddress(address), token, maxMessageBytes: 64 * 1024 * 1024 });
}

const CODES = 20_000;
const BLOCK = 500;
const BLOCKS = CODES / BLOCK;
/** About 50 bytes a code on the wire: 40 blocks of ~25 KB, ~1 MB per link, so four cuts 200 KB apart all fall inside the stream. */
const CUT_EVERY_BYTES = 200_000;
const MAX_CUTS = 4;
const ENV = { BLOCK_SIZE: String(BLOCK), EMISSION_RATE: "100000", CALL_TIMEOUT_MS: "3000", LOG_LEVEL: "warn" };
type Link = "apcsToOms" | "omsToRegistrar" | "registrarToEmission";

describe("real processes with every TCP connection between two roles cut mid-stream", () => {
  let emission: RoleProcess | undefined;
  let registrar: RoleProcess | undefined;
  let oms: RoleProcess | undefined;
  const proxies = {} as Record<Link, TcpFaultProxy>;
  let apcs: Apcs | undefined;

  beforeAll(async () => {
    emission = await startRole("emission-server", ENV);
    proxies.registrarToEmission = await startTcpFaultProxy({ target: emission.address });
    registrar = await startRole("registrar", { ...ENV, EMISSION_SERVER_ADDR: proxies.registrarToEmission.address });
    proxies.omsToRegistrar = await startTcpFaultProxy({ target: registrar.address });
    oms = await startRole("oms", { ...ENV, REGISTRAR_ADDR: proxies.omsToRegistrar.address });
    proxies.apcsToOms = await startTcpFaultProxy({ target: oms.address });
    apcs = await Apcs.open({
      transport: transport(proxies.apcsToOms.address, TOKENS.apcs),
      log: silent,
      callTimeoutMs: 3_000,
      retransmit: { attempts: 8, initialBackoffMs: 20, maxBackoffMs: 200 },
    });
  });
  afterAll(async () => {
    await apcs?.close();
    for (const p of Object.values(proxies)) await p.close();
    await Promise.all([oms?.stop(), registrar?.stop(), emission?.stop()]);
  });

  /** Streams a 20 000-code order with every link cut MAX_CUTS times, and checks it arrived exactly once. */
  async function streamThroughCuts(mode: CutMode, requestId: string): Promise<void> {
    const before = Object.fromEntries(Object.entries(proxies).map(([k, p]) => [k, { ...p.stats }])) as Record<Link, TcpFaultProxyStats>;
    for (const p of Object.values(proxies)) p.arm({ cutEveryBytes: CUT_EVERY_BYTES, maxCuts: MAX_CUTS, mode });
    const line = apcs!;
    const order = await line.placeOrder(milkOrder(CODES), requestId);
    const seqs: number[] = [];
    let received = 0;
    const saved = await line.receiveCodes(order.orderId, {
      signal: AbortSignal.timeout(20_000),
      onBlock: (b) => {
        seqs.push(b.seq);
        received += b.codes.length;
      },
    });
    for (const p of Object.values(proxies)) p.disarm();
    if (process.env.FAULT_REPORT !== undefined)
      console.log(mode, JSON.stringify(Object.fromEntries(Object.entries(proxies).map(([k, p]) => [k, p.stats]))));

    // Every cut really happened, on every link, while codes were flowing, and each was followed by a new connection.
    for (const name of Object.keys(proxies) as Link[]) {
      const s = proxies[name].stats;
      expect(s.cuts - before[name].cuts, name).toBe(MAX_CUTS);
      expect(s.connectionsCut - before[name].connectionsCut, name).toBeGreaterThanOrEqual(MAX_CUTS);
      expect(s.connections - before[name].connections, name).toBeGreaterThanOrEqual(MAX_CUTS);
      expect(s.bytesDown - before[name].bytesDown, name).toBeGreaterThan(CUT_EVERY_BYTES * MAX_CUTS);
    }

    // Every block once, in order, none missing; every code once and genuine.
    expect(seqs).toEqual(Array.from({ length: BLOCKS }, (_, i) => i + 1));
    expect(received).toBe(CODES);
    expect([saved.storedBlocks, saved.storedCodes]).toEqual([BLOCKS, CODES]);
    const ring = parseKeyRing(EMISSION_KEYS);
    const unique = new Set<string>();
    for await (const block of line.codes(order.orderId)) {
      for (const code of block.codes) {
        unique.add(code);
        expect(verifyCode(ring, code).valid).toBe(true);
      }
    }
    expect(unique.size).toBe(CODES);

    // The order completed at every hop (asked directly, not through the proxies).
    const atOms = (await createClient(OmsService, transport(oms!.address, TOKENS.apcs)).getOrder({ orderId: order.orderId })).order;
    expect([atOms?.status, atOms?.bufferStatus, atOms?.deliveredCodes, atOms?.deliveredBlocks]).toEqual([
      OrderStatus.READY,
      BufferStatus.EXHAUSTED,
      BigInt(CODES),
      BLOCKS,
    ]);
    const pool = (await createClient(RegistrarService, transport(registrar!.address, TOKENS.oms)).getPool({ orderId: order.orderId })).pool;
    expect([pool?.status, pool?.pooledCodes, pool?.pooledBlocks]).toEqual([PoolStatus.READY, BigInt(CODES), BLOCKS]);
    const emitted = (
      await createClient(EmitterService, transport(emission!.address, TOKENS.registrar)).getEmissionOrder({ orderId: order.orderId })
    ).order;
    expect([emitted?.status, emitted?.emittedCodes]).toEqual([OrderStatus.READY, BigInt(CODES)]);
  }

  it("answers a CreateOrder whose reply was lost on the wire from its stored reply: the same order, marked as a replay", async () => {
    const line = apcs!;
    const spec = milkOrder(1_000);
    // With the line's connection to OMS up, the first bytes OMS sends after the request are about the request.
    await line.getOrder("no-such-order-yet").catch(() => undefined);
    const before = proxies.apcsToOms.stats.cuts;
    proxies.apcsToOms.arm({ cutEveryBytes: 1, maxCuts: 1, mode: "close" });
    const order = await line.placeOrder(spec, "e2e-lost-reply-0001");
    proxies.apcsToOms.disarm();
    expect(proxies.apcsToOms.stats.cuts - before).toBe(1);
    // The same request again, straight to OMS: the stored reply, saying so.
    const replayed: (string | null)[] = [];
    const again = await createClient(OmsService, transport(oms!.address, TOKENS.apcs)).createOrder(
      { order: spec },
      { headers: { "x-request-id": "e2e-lost-reply-0001" }, onHeader: (h) => void replayed.push(h.get(REPLAY_HEADER)) },
    );
    expect(again.order?.orderId).toBe(order.orderId);
    expect(replayed).toEqual(["true"]);
    expect((await line.receiveCodes(order.orderId, { signal: AbortSignal.timeout(10_000) })).storedCodes).toBe(1_000);
  });

  it("delivers a 20 000-code order exactly once although every link is closed four times mid-stream (FIN)", async () => {
    await streamThroughCuts("close", "e2e-cut-close-0001");
  });

  it("delivers a 20 000-code order exactly once although every link is reset four times mid-stream (RST, ECONNRESET)", async () => {
    await streamThroughCuts("reset", "e2e-cut-reset-0001");
  });
});
