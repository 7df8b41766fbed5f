import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { ServingStatus } from "../../src/core/rpc/health-service.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { waitForPing } from "../../src/store/local-ferretdb.js";
import { startRole } from "../support/processes.js";

const FERRETDB = fileURLToPath(new URL("../../.cache/tools/bin/ferretdb", import.meta.url));

/** Probes often, so the test sees the changes soon after they happen. */
const ENV = { HEALTH_PROBE_MS: "200", HEALTH_PROBE_TIMEOUT_MS: "1000", ROLE_BELOW_UNREACHABLE_MS: "1000" };

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** FerretDB on a fixed port and data directory, so it can be killed and started again where it was. */
async function ferretDbAt(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(FERRETDB, ["-listen", `127.0.0.1:${port}`, "-dir", join(dir, "data")], { stdio: "ignore" });
  const guard = (): void => void child.kill("SIGKILL");
  process.once("exit", guard);
  child.once("exit", () => process.off("exit", guard));
  await waitForPing(`mongodb://127.0.0.1:${port}/`);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
}

/** Every status a health Watch of `service` at `address` streams, in order. */
function watch(address: string, service: string, signal: AbortSignal): ServingStatus[] {
  const seen: ServingStatus[] = [];
  const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${address}` }));
  void (async () => {
    for await (const r of health.watch({ service }, { signal })) seen.push(r.status);
  })().catch(() => undefined);
  return seen;
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe("health that tells the truth, with real processes", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const abort = new AbortController();
  afterAll(async () => {
    abort.abort();
    for (const c of cleanup.reverse()) await c();
  });

  // It kills and restarts a FerretDB of its own: not with a server given by MONGODB_URI.
  it.skipIf((process.env.MONGODB_URI ?? "") !== "")(
    "turns NOT_SERVING while FerretDB is down and SERVING again once it is back; the role above follows the role below",
    {
      timeout: 180_000,
    },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "ferretdb-readiness-"));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const port = await freePort();
      let db = await ferretDbAt(port, dir);
      cleanup.push(() => kill(db));
      const env = { ...ENV, MONGODB_URI: `mongodb://127.0.0.1:${port}/`, MONGODB_DATABASE_PREFIX: `readiness-${Date.now()}-` };
      const emission = await startRole("emission-server", env);
      cleanup.push(() => emission.stop("SIGKILL"));
      const registrar = await startRole("registrar", { ...ENV, EMISSION_SERVER_ADDR: emission.address });
      cleanup.push(() => registrar.stop("SIGKILL"));
      const below = watch(emission.address, "emission.emitter.v1.EmitterService", abort.signal);
      const above = watch(registrar.address, "", abort.signal);
      await until("both SERVING", () => below.at(-1) === ServingStatus.SERVING && above.at(-1) === ServingStatus.SERVING);

      await kill(db);
      await until("the Emission server NOT_SERVING", () => below.at(-1) === ServingStatus.NOT_SERVING);
      // It still answers (only its store does not): the Registrar above stays SERVING.
      expect(above.at(-1)).toBe(ServingStatus.SERVING);
      db = await ferretDbAt(port, dir);
      await until("the Emission server SERVING again", () => below.at(-1) === ServingStatus.SERVING);
      expect(below).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);

      // The role below gone: the Registrar stops serving past ROLE_BELOW_UNREACHABLE_MS, and serves again once it is back.
      await emission.stop("SIGKILL");
      await until("the Registrar NOT_SERVING", () => above.at(-1) === ServingStatus.NOT_SERVING);
      const again = await startRole("emission-server", env, emission.port);
      cleanup.push(() => again.stop("SIGKILL"));
      await until("the Registrar SERVING again", () => above.at(-1) === ServingStatus.SERVING);
      expect(above).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    },
  );
});
