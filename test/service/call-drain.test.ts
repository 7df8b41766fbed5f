import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CallDrain } from "../../src/core/process/call-drain.js";
import { abortedCallError, reasonOf, retryHintOf } from "../../src/core/rpc/index.js";
import { HealthState, registerHealth, ServingStatus } from "../../src/core/rpc/health-service.js";
import { CodeBlockSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";

/** A service whose unary call waits for `release` (or its signal) and whose stream sends one block, then waits for its signal. */
function setup() {
  const drain = new CallDrain(250);
  const health = new HealthState();
  health.set("", "serving");
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const transport = createRouterTransport(
    (router) => {
      registerHealth(router, health);
      router.service(EmitterService, {
        async getEmissionOrder(req, ctx) {
          const aborted = new Promise<never>((_, reject) => {
            if (ctx.signal.aborted) reject(abortedCallError(ctx.signal));
            ctx.signal.addEventListener("abort", () => reject(abortedCallError(ctx.signal)));
          });
          aborted.catch(() => undefined); // the call may end without ever being aborted
          if (req.orderId === "forever") await aborted;
          await Promise.race([released, aborted]);
          return {};
        },
        async *streamCodes(_req, ctx) {
          yield { block: create(CodeBlockSchema, { seq: 1 }) };
          if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          throw abortedCallError(ctx.signal);
        },
      });
    },
    { router: { interceptors: [drain.interceptor()] } },
  );
  return { drain, release, emitter: createClient(EmitterService, transport), health: createClient(Health, transport) };
}

const failure = (p: Promise<unknown>): Promise<ConnectError | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => ConnectError.from(err),
  );

function expectShuttingDown(err: ConnectError | undefined): void {
  expect(err?.code).toBe(Code.Unavailable);
  expect(reasonOf(err!)).toBe("SHUTTING_DOWN");
  expect(retryHintOf(err!)).toBeGreaterThan(0);
}

describe("CallDrain", () => {
  it("ends open streams with UNAVAILABLE and refuses new calls with a retry hint, while health checks are answered", async () => {
    const { drain, emitter, health } = setup();
    const stream = emitter.streamCodes({ orderId: "o" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.block?.seq).toBe(1);
    expect(drain.drain()).toBe(1);
    expectShuttingDown(await failure(stream.next()));
    expectShuttingDown(await failure(emitter.getEmissionOrder({ orderId: "new" })));
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect(await drain.idle(10_000)).toBe(true);
  });

  it("lets a call in progress finish after drain(), and cut() ends one that would not", async () => {
    const { drain, release, emitter } = setup();
    const finishing = failure(emitter.getEmissionOrder({ orderId: "slow" }));
    const stuck = failure(emitter.getEmissionOrder({ orderId: "forever" }));
    for (let i = 0; i < 100 && drain.inProgress < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(drain.inProgress).toBe(2);
    drain.drain();
    release();
    expect(await finishing).toBeUndefined();
    expect(await drain.idle(50)).toBe(false); // the other is still running
    expect(drain.cut()).toBe(1);
    expectShuttingDown(await stuck);
    expect(await drain.idle(10_000)).toBe(true);
  });
});
