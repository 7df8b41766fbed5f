import { spawn } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { TEST_ENV } from "../support/test-config.js";

const START_MESH = fileURLToPath(new URL("../../dist/start-mesh.js", import.meta.url));

/** Free loopback ports (closed again at once, for the mesh to take). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer();
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** True when something accepts connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `npm start`'s program on three free ports; resolves once `listening` roles logged that they listen. */
async function startMesh(listening: number) {
  const ports = await freePorts(3);
  const [oms, registrar, emission] = ports.map((p) => `127.0.0.1:${p}`);
  const child = spawn(process.execPath, [START_MESH, "--oms", oms!, "--registrar", registrar!, "--emission-server", emission!], {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // "close": the exit code, once every line the mesh wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    void exited.then(() => reject(new Error("start-mesh exited before its roles listened")));
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      if (lines.filter((l) => l.includes('"msg":"listening"')).length === listening) resolve();
    });
  });
  return { child, exited, ports, lines };
}

describe("npm start (start-mesh)", () => {
  it("forwards SIGTERM to its roles, waits for them to shut down gracefully, and exits 0", { timeout: 90_000 }, async () => {
    const mesh = await startMesh(3);
    mesh.child.kill("SIGTERM");
    expect(await mesh.exited).toBe(0);
    expect(mesh.lines.filter((l) => l.includes('"msg":"stopped"'))).toHaveLength(3);
    for (const port of mesh.ports) expect(await answers(port)).toBe(false);
  });

  it("leaves no role running when SIGTERM comes while the roles are still starting", { timeout: 90_000 }, async () => {
    const mesh = await startMesh(1);
    mesh.child.kill("SIGTERM");
    expect(await mesh.exited).toBe(0);
    for (const port of mesh.ports) expect(await answers(port)).toBe(false);
  });
});
