import { createClient, createRouterTransport } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { meshInterceptors, meshRoutes } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { HealthState } from "../../src/core/rpc/index.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { bearer } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { testConfig, TOKENS } from "../support/test-config.js";

/** The role over Connect with JSON messages, as curl speaks it. */
function jsonTransport(role: BuiltRole) {
  return createRouterTransport(meshRoutes(role.spec, new HealthState()), {
    router: { interceptors: meshInterceptors(role.spec) },
    transport: {
      useBinaryFormat: false,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKENS.registrar}`);
          return next(req);
        },
      ],
    },
  });
}

describe("StreamCodes on the wire", () => {
  let role: BuiltRole | undefined;
  afterEach(async () => {
    await role?.stop();
  });

  it("sends the blocks stored encoded to binary and JSON clients alike", async () => {
    role = await buildEmissionServer({
      config: testConfig({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000" }),
      log: pino({ level: "silent" }),
    });
    const binary = createClient(EmitterService, inMemoryTransport(role.spec, bearer(TOKENS.registrar)));
    const json = createClient(EmitterService, jsonTransport(role));
    const created = await binary.createEmissionOrder(
      { participantId: "77", order: milkOrder(25) },
      { headers: { "x-request-id": "code-wire-0001" } },
    );
    const viaBinary = [];
    for await (const r of binary.streamCodes({ orderId: created.orderId })) viaBinary.push(r.block);
    const viaJson = [];
    for await (const r of json.streamCodes({ orderId: created.orderId })) viaJson.push(r.block);
    expect(viaBinary.map((b) => [b?.seq, b?.codes.length, b?.last])).toEqual([
      [1, 10, false],
      [2, 10, false],
      [3, 5, true],
    ]);
    expect(viaJson).toEqual(viaBinary);
  });
});
