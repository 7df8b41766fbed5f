import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { TEST_ENV } from "./test-config.js";

export type ServerRole = "emission-server" | "registrar" | "oms";

/** A server role running as its own process on a loopback port. */
export interface RoleProcess {
  role: ServerRole;
  port: number;
  address: string;
  child: ChildProcess;
  /** Lines the process logged (JSON), for assertions and failure reports. */
  logs: string[];
  /** kill -9. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));

/**
 * Starts `node dist/<role>/server.js` on 127.0.0.1 (port 0 unless given) and
 * waits for its "listening" log line, which carries the port it got.
 */
export function startRole(role: ServerRole, env: Record<string, string>, port = 0): Promise<RoleProcess> {
  const flag = role === "emission-server" ? "--emission-server" : `--${role}`;
  const child = spawn(process.execPath, [`${DIST}${role}/server.js`, flag, `127.0.0.1:${port}`], {
    env: { PATH: process.env["PATH"] ?? "", ...TEST_ENV, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start in 20 s:\n${logs.join("\n")}`)), 20_000);
    createInterface({ input: child.stderr! }).on("line", (l) => logs.push(l));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      logs.push(line);
      if (!line.includes('"msg":"listening"')) return;
      clearTimeout(timer);
      const got = (JSON.parse(line) as { port: number }).port;
      resolve({
        role, port: got, address: `127.0.0.1:${got}`, child, logs,
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exited;
        },
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (${code}) before listening:\n${logs.join("\n")}`));
    });
  });
}

/** The three roles bottom-up, each pointed at the one below. */
export async function startMesh(env: Record<string, string> = {}): Promise<{ emission: RoleProcess; registrar: RoleProcess; oms: RoleProcess; stop(): Promise<void> }> {
  const emission = await startRole("emission-server", env);
  const registrar = await startRole("registrar", { ...env, EMISSION_SERVER_ADDR: emission.address });
  const oms = await startRole("oms", { ...env, REGISTRAR_ADDR: registrar.address });
  return {
    emission, registrar, oms,
    async stop() {
      await Promise.all([oms.stop(), registrar.stop(), emission.stop()]);
    },
  };
}
