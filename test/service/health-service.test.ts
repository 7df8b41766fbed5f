import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HealthState, ServingStatus, registerHealth } from "../../src/core/rpc/health-service.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";

function setup(): { state: HealthState; client: Client<typeof Health> } {
  const state = new HealthState();
  const transport = createRouterTransport((router) => registerHealth(router, state));
  return { state, client: createClient(Health, transport) };
}

/** Resolves once `check` holds, polling briefly (watch cleanup is async). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe("HealthState", () => {
  it("accepts the enum or a lower-case name", () => {
    const state = new HealthState();
    state.set("a", "serving");
    state.set("b", ServingStatus.NOT_SERVING);
    expect(state.get("a")).toBe(ServingStatus.SERVING);
    expect(state.get("b")).toBe(ServingStatus.NOT_SERVING);
    expect(state.get("c")).toBeUndefined();
  });

  it("notifies watchers of changes only, until they unsubscribe", () => {
    const state = new HealthState();
    const seen: ServingStatus[] = [];
    const off = state.watch("a", (s) => seen.push(s));
    state.set("a", "serving");
    state.set("a", "serving");
    state.set("b", "not_serving");
    state.set("a", "not_serving");
    off();
    state.set("a", "serving");
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(state.listenerCount).toBe(0);
  });

  it("marks everything NOT_SERVING at shutdown and ignores later updates", () => {
    const state = new HealthState();
    state.set("", "serving");
    state.set("a", "serving");
    state.shutdown();
    state.set("a", "serving");
    expect(state.entries()).toEqual(
      new Map([
        ["", ServingStatus.NOT_SERVING],
        ["a", ServingStatus.NOT_SERVING],
      ]),
    );
  });
});

describe("registerHealth", () => {
  it("Check answers the status of a known service and of the whole server", async () => {
    const { state, client } = setup();
    state.set("", "serving");
    state.set("emission.oms.v1.OmsService", "not_serving");
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: "emission.oms.v1.OmsService" })).status).toBe(ServingStatus.NOT_SERVING);
  });

  it("Check fails with NOT_FOUND for an unknown service", async () => {
    const { client } = setup();
    const err = await client.check({ service: "nope.v1.Nope" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });

  it("List returns every known service", async () => {
    const { state, client } = setup();
    state.set("", "serving");
    state.set("a.v1.A", "not_serving");
    const res = await client.list({});
    expect(Object.fromEntries(Object.entries(res.statuses).map(([k, v]) => [k, v.status]))).toEqual({
      "": ServingStatus.SERVING,
      "a.v1.A": ServingStatus.NOT_SERVING,
    });
  });

  it("Watch sends the current status at once, then each change, and cleans up on cancel", async () => {
    const { state, client } = setup();
    state.set("a.v1.A", "serving");
    const abort = new AbortController();
    const stream = client.watch({ service: "a.v1.A" }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    await eventually(() => state.listenerCount > 0);
    state.set("a.v1.A", "not_serving");
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    state.set("a.v1.A", "serving");
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
    await expect(stream.next()).rejects.toThrow(/cancel|abort/i);
    await eventually(() => state.listenerCount === 0);
  });

  it("Watch reports SERVICE_UNKNOWN for an unknown service and stays open until it appears", async () => {
    const { state, client } = setup();
    const abort = new AbortController();
    const stream = client.watch({ service: "later.v1.Later" }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    await eventually(() => state.listenerCount > 0);
    state.set("later.v1.Later", "serving");
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
    await eventually(() => state.listenerCount === 0);
  });

  it("Watch sends NOT_SERVING, then ends UNAVAILABLE at shutdown (never OK)", async () => {
    const { state, client } = setup();
    state.set("", "serving");
    const statuses: ServingStatus[] = [];
    const done = (async () => {
      for await (const res of client.watch({ service: "" })) statuses.push(res.status);
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    await eventually(() => state.listenerCount > 0);
    state.shutdown();
    expect((await done)?.code).toBe(Code.Unavailable);
    expect(statuses).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(state.listenerCount).toBe(0);
  });

  it("Watch ends DEADLINE_EXCEEDED when the server's deadline passes, never OK", async () => {
    const { state, client } = setup();
    state.set("", "serving");
    const statuses: ServingStatus[] = [];
    const err = await (async () => {
      for await (const res of client.watch({ service: "" }, { timeoutMs: 50 })) statuses.push(res.status);
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.DeadlineExceeded);
    expect(statuses).toEqual([ServingStatus.SERVING]);
    await eventually(() => state.listenerCount === 0);
  });
});
