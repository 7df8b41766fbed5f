import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { LIVENESS_SERVICE, type Readiness, roleReadiness } from "../../src/core/process/readiness.js";
import { HealthState, ServingStatus } from "../../src/core/rpc/health-service.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { buildRegistrar } from "../../src/registrar/server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { bearer } from "../support/in-memory-mesh.js";
import { StallingStore } from "../support/stalling-store.js";
import { testConfig, TOKENS } from "../support/test-config.js";

const silent = pino({ level: "silent" });

/** Probes often, with a short timeout and threshold, so a test sees several rounds. */
const ENV = { HEALTH_PROBE_MS: "20", HEALTH_PROBE_TIMEOUT_MS: "100", ROLE_BELOW_UNREACHABLE_MS: "300" };

/** A link to the role below that can be cut: while down, every call fails UNAVAILABLE at once. */
function switchable(inner: Transport): Transport & { down: boolean } {
  const link = {
    down: false,
    unary: ((...args: Parameters<Transport["unary"]>) => {
      if (link.down) return Promise.reject(new ConnectError("connection refused", Code.Unavailable));
      return inner.unary(...args);
    }) as Transport["unary"],
    stream: ((...args: Parameters<Transport["stream"]>) => {
      if (link.down) return Promise.reject(new ConnectError("connection refused", Code.Unavailable));
      return inner.stream(...args);
    }) as Transport["stream"],
  };
  return link;
}

/** Statuses a health Watch received, in order. */
function watchStatuses(transport: Transport, service: string, signal: AbortSignal): ServingStatus[] {
  const seen: ServingStatus[] = [];
  void (async () => {
    for await (const r of createClient(Health, transport).watch({ service }, { signal })) seen.push(r.status);
  })().catch(() => undefined);
  return seen;
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("readiness of a role (health that tells the truth)", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function registrarWithProbes() {
    const config = testConfig(ENV);
    const emission = await buildEmissionServer({ config, log: silent, store: new MemoryStore() });
    const link = switchable(inMemoryTransport(emission.spec, bearer(TOKENS.registrar)));
    const store = new StallingStore(new MemoryStore());
    const registrar: BuiltRole = await buildRegistrar({ config, log: silent, store, downstream: link });
    const health = new HealthState();
    const readiness: Readiness = roleReadiness(health, registrar.spec);
    readiness.start();
    const abort = new AbortController();
    cleanup.push(
      () => emission.stop(),
      () => registrar.stop(),
      () => readiness.stop(),
      () => abort.abort(),
    );
    const transport = inMemoryTransport(registrar.spec, {}, health);
    const check = async (service: string) => (await createClient(Health, transport).check({ service })).status;
    return { store, link, transport, abort, check };
  }

  it("turns NOT_SERVING while the store does not answer and SERVING again by itself, and Watch streams each change", async () => {
    const { store, transport, abort, check } = await registrarWithProbes();
    const seen = watchStatuses(transport, RegistrarService.typeName, abort.signal);
    await until("SERVING", () => seen.at(-1) === ServingStatus.SERVING);
    store.stall();
    await until("NOT_SERVING", () => seen.at(-1) === ServingStatus.NOT_SERVING);
    // The whole server says so too; the process itself still answers (liveness).
    expect(await check("")).toBe(ServingStatus.NOT_SERVING);
    expect(await check(LIVENESS_SERVICE)).toBe(ServingStatus.SERVING);
    store.resume();
    await until("SERVING again", () => seen.at(-1) === ServingStatus.SERVING);
    expect(await check("")).toBe(ServingStatus.SERVING);
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
  });

  it("turns NOT_SERVING once the role below has been unreachable past the threshold, and SERVING again when it answers", async () => {
    const { link, transport, abort, check } = await registrarWithProbes();
    const seen = watchStatuses(transport, "", abort.signal);
    await until("SERVING", () => seen.at(-1) === ServingStatus.SERVING);
    link.down = true;
    await until("NOT_SERVING", () => seen.at(-1) === ServingStatus.NOT_SERVING);
    expect(await check(RegistrarService.typeName)).toBe(ServingStatus.NOT_SERVING);
    link.down = false;
    await until("SERVING again", () => seen.at(-1) === ServingStatus.SERVING);
    expect(await check(RegistrarService.typeName)).toBe(ServingStatus.SERVING);
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
  });
});
