import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { spawn } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { reasonOf, retryHintOf } from "../../src/core/rpc/index.js";
import { ServingStatus } from "../../src/core/rpc/health-service.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

/** A "Registrar" that accepts connections and never answers; `called` settles once a role sends it anything. */
async function blackHole(): Promise<{ address: string; called: Promise<void>; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let called!: () => void;
  const calledP = new Promise<void>((resolve) => (called = resolve));
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("data", () => called());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    called: calledP,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a role's grace period after SIGTERM", () => {
  const started: { stop(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
  });

  it("reports NOT_SERVING, refuses new calls with UNAVAILABLE and a retry hint, lets the call in progress finish, and exits 0", {
    timeout: 120_000,
  }, async () => {
    const hole = await blackHole();
    started.push(hole);
    const logs: Record<string, unknown>[] = [];
    // The call in progress waits on a Registrar that never answers: two attempts of 3 s each, well within the grace period.
    const oms: RoleProcess = await startRole(
      "oms",
      { REGISTRAR_ADDR: hole.address, CALL_TIMEOUT_MS: "3000", RETRANSMIT_ATTEMPTS: "2", SHUTDOWN_GRACE_MS: "60000" },
      0,
      (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
    );
    started.push(oms);
    // One connection for every call below, opened before the SIGTERM (the listener closes at once).
    const transport = createGrpcTransport({ baseUrl: `http://${oms.address}` });
    const client = createClient(OmsService, transport);
    const health = createClient(Health, transport);
    const auth = { authorization: `Bearer ${TOKENS.apcs}` };
    const inProgress = client.createOrder({ order: milkOrder(10) }, { headers: { ...auth, "x-request-id": "grace-order-0001" } }).then(
      () => undefined,
      (err: unknown) => ConnectError.from(err),
    );
    await hole.called; // OMS is working on it: it called the Registrar
    oms.child.kill("SIGTERM");
    for (let i = 0; i < 500 && (await health.check({ service: "" })).status !== ServingStatus.NOT_SERVING; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await health.check({ service: OmsService.typeName })).status).toBe(ServingStatus.NOT_SERVING);

    const refused = await client.listProductGroups({}, { headers: auth }).then(
      () => undefined,
      (err: unknown) => ConnectError.from(err),
    );
    expect(refused?.code).toBe(Code.Unavailable);
    expect(reasonOf(refused!)).toBe("SHUTTING_DOWN");
    expect(retryHintOf(refused!)).toBeGreaterThan(0);

    // The call in progress ran to its own end (the Registrar never answered), not cut by the shutdown.
    const finished = await inProgress;
    expect(reasonOf(finished!)).toBe("ROLE_BELOW_UNAVAILABLE");
    await oms.stop();
    expect(oms.child.exitCode).toBe(0);
    expect(logs.find((l) => l.msg === "shutting down")?.callsInProgress).toBe(1);
    expect(logs.some((l) => l.msg === "grace period over: calls still in progress end with UNAVAILABLE")).toBe(false);
    expect(logs.some((l) => l.msg === "stopped")).toBe(true);
  });
});

describe("a role's SIGTERM handling while it starts", () => {
  it("shuts down gracefully and exits 0 when SIGTERM comes before it listens", { timeout: 60_000 }, async () => {
    const entry = fileURLToPath(new URL("../../dist/emission-server/server.js", import.meta.url));
    // No MESH_TOKENS: the role warns about it while it starts, well before "listening".
    const child = spawn(process.execPath, [entry, "--emission-server", "127.0.0.1:0"], {
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once("close", (code, signal) => resolve([code, signal])),
    );
    const messages: string[] = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      if (messages.length === 0) child.kill("SIGTERM");
      messages.push(msg);
    });
    expect(await closed).toEqual([0, null]);
    expect(messages.indexOf("stopped")).toBeGreaterThan(messages.indexOf("listening"));
  });
});
