import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { RelayRole } from "./relay-server.js";

/** A process of the bench: a relay hop (or a mesh role), with what the bench reads of it. */
export interface BenchProcess {
  role: string;
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export interface Relay {
  /** Bottom-up: emission-server, registrar, oms. */
  hops: BenchProcess[];
  /** Where line controllers dial (the relay's OMS). */
  omsAddress: string;
  stop(): Promise<void>;
}

/** The compiled relay, whether this module runs from src/bench/relay (tests) or dist/bench/relay. */
const ENTRY = fileURLToPath(new URL("../../../dist/bench/relay/relay-server.js", import.meta.url));
const START_TIMEOUT_MS = 20_000;

function startHop(role: RelayRole, below: string | undefined): Promise<BenchProcess> {
  const args = [ENTRY, "--role", role, "--listen", "127.0.0.1:0", ...(below === undefined ? [] : ["--below", below])];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  // A hop never outlives the bench that started it.
  const orphanGuard = (): void => void child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => process.off("exit", orphanGuard));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay ${role} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`relay ${role} exited (code ${code}) before listening`));
    };
    child.once("exit", onExit);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (!line.includes('"msg":"listening"')) return;
      clearTimeout(timer);
      child.off("exit", onExit);
      const { host, port } = JSON.parse(line) as { host: string; port: number };
      resolve({
        role,
        address: `${host}:${port}`,
        pid: child.pid ?? 0,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    });
  });
}

/** The bare three-hop relay (relay-server.ts) as three processes on loopback, bottom-up. */
export async function startRelay(): Promise<Relay> {
  const hops: BenchProcess[] = [];
  try {
    for (const role of ["emission-server", "registrar", "oms"] as const) hops.push(await startHop(role, hops.at(-1)?.address));
  } catch (err) {
    await Promise.all(hops.map((h) => h.stop()));
    throw err;
  }
  return {
    hops,
    omsAddress: hops.at(-1)?.address ?? "",
    async stop() {
      await Promise.all(hops.map((h) => h.stop()));
    },
  };
}
