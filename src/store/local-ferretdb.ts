import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";

/** Exit status of our ferretdb program when its listen address is taken (scripts/ferretdb/main.go). */
const EXIT_BIND = 3;
const START_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface LocalMongo {
  uri: string;
  stop(): Promise<void>;
}

/**
 * FerretDB with its SQLite backend on 127.0.0.1, on a free port and a fresh
 * data directory that stop() removes: the MongoDB-compatible server that
 * `npm install` builds into .cache/tools/bin, for the tests and the chaos
 * benchmark. It never outlives the program that started it.
 */
export async function startLocalFerretDb(binary: string): Promise<LocalMongo> {
  if (!existsSync(binary)) throw new Error(`FerretDB is missing at ${binary}: run \`npm install\` (it runs scripts/install-tools.sh)`);
  const dir = await mkdtemp(join(tmpdir(), "ferretdb-"));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = spawnFerretDb(binary, port, dir);
      try {
        await waitForPing(`mongodb://127.0.0.1:${port}/`, () => server.exited());
        return { uri: `mongodb://127.0.0.1:${port}/`, stop: () => server.stop().finally(() => rm(dir, { recursive: true, force: true })) };
      } catch (err) {
        await server.stop();
        // Another process took the port between our probe and FerretDB's bind: try another.
        if (server.child.exitCode === EXIT_BIND && attempt < START_ATTEMPTS) continue;
        throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

interface FerretDbProcess {
  child: ChildProcess;
  /** Why the process is gone, or undefined while it runs. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

function spawnFerretDb(binary: string, port: number, dir: string): FerretDbProcess {
  const child = spawn(binary, ["-listen", `127.0.0.1:${port}`, "-dir", join(dir, "data")], { stdio: ["ignore", "ignore", "pipe"] });
  // Never outlive the program that started it, even one that timed out or crashed.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.off("exit", killOnExit));
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-4000)));
  let spawnError: Error | undefined;
  child.on("error", (err) => (spawnError = err));
  const gone = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return {
    child,
    exited() {
      if (spawnError !== undefined) return `ferretdb could not start: ${spawnError.message}`;
      if (child.exitCode === null && child.signalCode === null) return undefined;
      return `ferretdb exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && spawnError === undefined) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
        await gone;
        clearTimeout(timer);
      }
    },
  };
}

/** A port that was free a moment ago (the OS picks it for a listener on port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Waits until a client can ping `uri`; `exited` reports a server process that is gone. */
export async function waitForPing(uri: string, exited: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    const why = exited();
    if (why !== undefined) throw new Error(why);
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
    try {
      await client.db("admin").command({ ping: 1 });
      return;
    } catch (err) {
      last = err;
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no MongoDB server answered at ${uri} within ${READY_TIMEOUT_MS} ms: ${String(last)}`);
}
