import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idempotencyInterceptor } from "../../src/core/iotp/idempotency-interceptor.js";
import { ReplyStore } from "../../src/core/iotp/reply-store.js";
import { REQUEST_ID_HEADER } from "../../src/core/rpc/index.js";
import { Notifier } from "../../src/core/runtime/index.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";

/** An instance that is always alive: only a lease that ran out frees its claims. */
const alive = { id: "a", isAlive: async () => true };

describe("idempotencyInterceptor", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("renews the claim of a long call one renewal at a time while the store stalls, not one more at every tick", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    // A claim lease of 3 s is renewed every second; this store never answers a renewal.
    const replies = await ReplyStore.open(new MemoryStore(), 60_000, 3_000, alive);
    let renewals = 0;
    const stalled: ReplyStore = Object.create(replies);
    stalled.renew = () => {
      renewals++;
      return new Promise<void>(() => undefined);
    };
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const transport = createRouterTransport(
      (router) =>
        router.service(EmitterService, {
          async createEmissionOrder() {
            await finished;
            return {};
          },
        }),
      {
        router: {
          interceptors: [
            idempotencyInterceptor({
              replies: stalled,
              services: [EmitterService],
              notifier: new Notifier(),
              maxWaitMs: 1_000,
              retryHintMs: 500,
            }),
          ],
        },
      },
    );
    const call = createClient(EmitterService, transport).createEmissionOrder({}, { headers: { [REQUEST_ID_HEADER]: "long-call-1" } });
    await vi.advanceTimersByTimeAsync(10_000); // ten ticks
    expect(renewals).toBe(1);
    finish();
    await expect(call).resolves.toBeDefined();
    await vi.advanceTimersByTimeAsync(10_000); // the call is done: no renewal after it
    expect(renewals).toBe(1);
  });
});
