import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export type ServerRole = "emission-server" | "registrar" | "oms";

/** Server roles bottom-up: each needs the one before it to be listening. */
export const SERVER_ROLES: readonly ServerRole[] = ["emission-server", "registrar", "oms"];

/** A server role running as its own process. */
export interface RoleProcess {
  role: ServerRole;
  port: number;
  /** host:port it listens on. */
  address: string;
  child: ChildProcess;
  /** Ends the process: SIGTERM (graceful) or SIGKILL (a crash). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

export interface StartRoleOptions {
  env: NodeJS.ProcessEnv;
  /** host:port to listen on; port 0 picks a free one. */
  listen?: string;
  /** More command-line flags (e.g. addresses of the roles below). */
  args?: readonly string[];
  /** Every line the process writes to stdout (its JSON logs). */
  onLine?: (line: string) => void;
  startTimeoutMs?: number;
}

/** The compiled roles, whether this module runs from src/core/process (tests) or dist/core/process. */
const DIST = new URL("../../../dist/", import.meta.url);

/** The flag that sets a role's own address. */
export function addressFlag(role: ServerRole): string {
  return `--${role}`;
}

/**
 * Starts `node <dist>/<role>/server.js` and resolves once it logs
 * "listening"; that log line carries the port it got.
 */
export async function startRoleProcess(role: ServerRole, o: StartRoleOptions): Promise<RoleProcess> {
  const entry = fileURLToPath(new URL(`${role}/server.js`, DIST));
  const args = [...(o.args ?? []), ...(o.listen === undefined ? [] : [addressFlag(role), o.listen])];
  return {
    role,
    ...(await startListeningProcess({ name: role, entry, args, env: o.env, onLine: o.onLine, startTimeoutMs: o.startTimeoutMs })),
  };
}

export interface ListeningProcessOptions {
  /** What to call it in errors. */
  name: string;
  /** The script node runs. */
  entry: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv | undefined;
  onLine?: ((line: string) => void) | undefined;
  startTimeoutMs?: number | undefined;
}

/** A node program that logs a JSON "listening" line with its host and port. */
export type ListeningProcess = Omit<RoleProcess, "role">;

/**
 * Starts `node <entry> <args>` with its stdout piped, and resolves once it
 * logs a JSON line with msg "listening" (and the host and port it got).
 */
export function startListeningProcess(o: ListeningProcessOptions): Promise<ListeningProcess> {
  const timeoutMs = o.startTimeoutMs ?? 20_000;
  const child = spawn(process.execPath, [o.entry, ...o.args], { env: o.env ?? process.env, stdio: ["ignore", "pipe", "inherit"] });
  // A process never outlives the program that started it (a test that timed out, a supervisor that crashed).
  const orphanGuard = (): void => void child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  child.once("exit", () => process.off("exit", orphanGuard));
  // "close", not "exit": the process may have exited before its last log lines (its "stopped") were read.
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${o.name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited (code ${code}) before listening`));
    };
    child.once("exit", onExit);
    // stdio is piped above, so stdout is there.
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      o.onLine?.(line);
      if (!line.includes('"msg":"listening"')) return;
      clearTimeout(timer);
      child.off("exit", onExit);
      const { host, port } = JSON.parse(line) as { host: string; port: number };
      resolve({
        port,
        address: `${host}:${port}`,
        child,
        async stop(signal = "SIGTERM") {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
  });
}
