import { createClient, createRouterTransport, type Interceptor, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { meshInterceptors, meshRoutes, type BuiltRole } from "../../src/core/process/grpc-server.js";
import { afterReplyKey } from "../../src/core/rpc/after-reply.js";
import { HealthState } from "../../src/core/rpc/health-service.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { bearer, inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { PARTICIPANT, TOKENS } from "../support/test-config.js";

/** Work a call left for after its reply, held here until the test runs it. */
class HeldWork {
  readonly work: (() => void)[] = [];
  /** Gives every call through it this after-reply queue. */
  readonly interceptor: Interceptor = (next) => (req) => {
    req.contextValues.set(afterReplyKey, { run: (work) => this.work.push(work) });
    return next(req);
  };
  release(): void {
    for (const work of this.work.splice(0)) work();
  }
}

/** A role's full handler stack in memory, with its after-reply work held. */
function holding(role: BuiltRole, token: string, held: HeldWork): Transport {
  return createRouterTransport(meshRoutes(role.spec, new HealthState()), {
    router: { interceptors: [held.interceptor, ...meshInterceptors(role.spec)] },
    transport: {
      interceptors: [
        (next) => (req) => {
          for (const [k, v] of Object.entries(bearer(token))) req.header.set(k, v);
          return next(req);
        },
      ],
    },
  });
}

const WAIT = { timeout: 5_000, interval: 20 };
let n = 0;
const headers = (): Record<string, string> => ({ "x-request-id": `after-reply-test-${++n}` });
/** Long enough for a 30-code order to be emitted and passed up many times over, were it started. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));

describe("work started with a create's reply", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    // Heartbeats (and the resume scans that go with them, which would also start a held fill) kept out of the way.
    mesh = await inMemoryMesh({ BLOCK_SIZE: "10", EMISSION_RATE: "1000000", INSTANCE_HEARTBEAT_MS: "60000", INSTANCE_DEAD_MS: "180000" });
  });
  afterAll(async () => {
    await mesh.close();
  });

  it("the Emission server emits a new order only once the create's reply has left", async () => {
    const held = new HeldWork();
    const emitter = createClient(EmitterService, holding(mesh.emission, TOKENS.registrar, held));
    const { orderId } = await emitter.createEmissionOrder({ participantId: PARTICIPANT, order: milkOrder(30) }, { headers: headers() });
    expect(held.work).toHaveLength(1);
    await settle();
    expect((await mesh.emitterClient.getEmissionOrder({ orderId })).order?.emittedBlocks).toBe(0);
    held.release();
    await vi.waitFor(async () => expect((await mesh.emitterClient.getEmissionOrder({ orderId })).order?.emittedBlocks).toBe(3), WAIT);
  });

  it("the Registrar fills a new pool only once the create's reply has left", async () => {
    const held = new HeldWork();
    const registrar = createClient(RegistrarService, holding(mesh.registrar, TOKENS.oms, held));
    const { orderId } = await registrar.createPool({ participantId: PARTICIPANT, order: milkOrder(30) }, { headers: headers() });
    expect(held.work).toHaveLength(1);
    await vi.waitFor(async () => expect((await mesh.emitterClient.getEmissionOrder({ orderId })).order?.emittedBlocks).toBe(3), WAIT);
    await settle();
    expect((await mesh.registrarClient.getPool({ orderId })).pool?.pooledBlocks).toBe(0);
    held.release();
    await vi.waitFor(async () => expect((await mesh.registrarClient.getPool({ orderId })).pool?.pooledBlocks).toBe(3), WAIT);
  });

  it("OMS fills a new order's code array only once the create's reply has left", async () => {
    const held = new HeldWork();
    const oms = createClient(OmsService, holding(mesh.oms, TOKENS.apcs, held));
    const { order } = await oms.createOrder({ order: milkOrder(30) }, { headers: headers() });
    const orderId = order?.orderId ?? "";
    expect(held.work).toHaveLength(1);
    await vi.waitFor(async () => expect((await mesh.registrarClient.getPool({ orderId })).pool?.pooledBlocks).toBe(3), WAIT);
    await settle();
    expect((await mesh.omsClient().getOrder({ orderId })).order?.receivedBlocks).toBe(0);
    held.release();
    await vi.waitFor(async () => expect((await mesh.omsClient().getOrder({ orderId })).order?.receivedBlocks).toBe(3), WAIT);
  });
});
