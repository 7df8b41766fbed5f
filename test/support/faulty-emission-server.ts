/**
 * An Emission server process that kills itself (SIGKILL) when its emitter
 * reaches a fault point for one chunk: a real crash at an exact place, for
 * e2e tests. Run from the TypeScript sources with tsx; the FAULT_* variables
 * are read here only, never by the server itself.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/core/config.js";
import { isMain, runMain } from "../../src/core/process/run-main.js";
import type { EmitterFaults } from "../../src/emission-server/emitter-faults.js";
import { startEmissionServer } from "../../src/emission-server/server.js";
import { TEST_ENV } from "./test-config.js";

export type FaultPoint = keyof EmitterFaults;

export interface FaultyEmissionServer {
  address: string;
  /** Settles when the process is gone, with the signal that ended it. */
  exited: Promise<NodeJS.Signals | null>;
  kill(): void;
}

/** Starts the process with `env` (on top of the test tokens and keys); it dies at `point` for the chunk (or order id) ending in `chunkSuffix`. */
export function startFaultyEmissionServer(
  env: Record<string, string>,
  point: FaultPoint,
  chunkSuffix: string,
): Promise<FaultyEmissionServer> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ["--import", "tsx", self, "--emission-server", "127.0.0.1:0"], {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, LOG_LEVEL: "info", ...env, FAULT_POINT: point, FAULT_CHUNK_SUFFIX: chunkSuffix },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const orphanGuard = (): void => void child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once("exit", (_code, signal) => {
      process.off("exit", orphanGuard);
      resolve(signal);
    }),
  );
  return new Promise((resolve, reject) => {
    void exited.then((signal) => reject(new Error(`the faulty Emission server exited (${signal}) before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.includes('"msg":"listening"')) return;
      const { host, port } = JSON.parse(line) as { host: string; port: number };
      resolve({ address: `${host}:${port}`, exited, kill: () => void child.kill("SIGKILL") });
    });
  });
}

if (isMain(import.meta.url)) {
  const point = process.env.FAULT_POINT;
  if (point !== "serialsFixed" && point !== "serialsTaken" && point !== "orderReserved")
    throw new Error(`FAULT_POINT must name an EmitterFaults hook, got ${String(point)}`);
  const suffix = process.env.FAULT_CHUNK_SUFFIX ?? "";
  // `key`: a chunk key, or the order id at orderReserved.
  const die = (key: string): void => {
    if (key.endsWith(suffix)) process.kill(process.pid, "SIGKILL");
  };
  runMain(() => startEmissionServer({ config: loadConfig(process.argv, process.env), emitterFaults: { [point]: die } }));
}
