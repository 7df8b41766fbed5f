import { Code, createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fieldViolationsOf } from "../../src/core/rpc/to-connect-error.js";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { GS } from "../../src/domain/code-format.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { bearer } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";
import { rejection } from "../support/rejection.js";

describe("Emission server", () => {
  let role: BuiltRole;
  let emitter: Client<typeof EmitterService>;
  let n = 0;
  const headers = () => ({ "x-request-id": `emission-test-${++n}` });

  beforeEach(async () => {
    role = await buildEmissionServer({
      config: testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000" }),
      log: pino({ level: "silent" }),
    });
    emitter = createClient(EmitterService, inMemoryTransport(role.spec, bearer(TOKENS.registrar)));
  });
  afterEach(async () => {
    await role.stop();
  });

  it("steps 4-7: answers at once with an order id and readiness, then emits in the background", async () => {
    const created = await emitter.createEmissionOrder({ participantId: "77", order: milkOrder(35) }, { headers: headers() });
    expect(created.orderId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.readiness?.totalCodes).toBe(35n);
    expect(created.readiness?.totalBlocks).toBe(4);
    const blocks = [];
    for await (const r of emitter.streamCodes({ orderId: created.orderId })) blocks.push(r.block!);
    expect(blocks.map((b) => [b.seq, b.codes.length, b.last])).toEqual([
      [1, 10, false],
      [2, 10, false],
      [3, 10, false],
      [4, 5, true],
    ]);
    expect(blocks[0]!.blockId).toBe(`${created.orderId}/1`);
    const order = (await emitter.getEmissionOrder({ orderId: created.orderId })).order;
    expect([order?.status, order?.emittedCodes]).toEqual([OrderStatus.READY, 35n]);
  });

  it("step 4: a request without a participant is INVALID_ARGUMENT naming participant_id", async () => {
    const err = await rejection(emitter.createEmissionOrder({ order: milkOrder(1) }, { headers: headers() }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(fieldViolationsOf(err)[0]?.field).toBe("participant_id");
  });

  it("VerifyCode accepts its own codes and refuses any changed character", async () => {
    const created = await emitter.createEmissionOrder({ participantId: "77", order: milkOrder(3) }, { headers: headers() });
    let code = "";
    for await (const r of emitter.streamCodes({ orderId: created.orderId })) code = r.block!.codes[0]!;
    expect(code.split(GS)).toHaveLength(3);
    expect((await emitter.verifyCode({ code })).valid).toBe(true);
    const changed = code.slice(0, 20) + (code[20] === "A" ? "B" : "A") + code.slice(21);
    const v = await emitter.verifyCode({ code: changed });
    expect(v.valid).toBe(false);
    expect(v.reason).not.toBe("");
    expect((await rejection(emitter.verifyCode({ code: "" }))).code).toBe(Code.InvalidArgument);
  });

  it("ends open code streams with FAILED_PRECONDITION when the order is closed before it is emitted", async () => {
    const slow = await buildEmissionServer({
      config: testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "20" }),
      log: pino({ level: "silent" }),
    });
    const client = createClient(EmitterService, inMemoryTransport(slow.spec, bearer(TOKENS.registrar)));
    try {
      const created = await client.createEmissionOrder({ participantId: "77", order: milkOrder(100) }, { headers: headers() });
      const streaming = (async () => {
        for await (const r of client.streamCodes({ orderId: created.orderId })) void r;
      })();
      await client.closeEmissionOrder({ orderId: created.orderId }, { headers: headers() });
      const err = await rejection(streaming);
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/CLOSED/);
    } finally {
      await slow.stop();
    }
  });

  it("answers NOT_FOUND for an unknown order", async () => {
    expect((await rejection(emitter.getEmissionOrder({ orderId: "nope" }))).code).toBe(Code.NotFound);
  });
});
