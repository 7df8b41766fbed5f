import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { type RoleProcess, SERVER_ROLES, startRoleProcess } from "../core/process/index.js";
import { dropRun } from "./chaos-stores.js";
import type { BenchProcess } from "./relay/start-relay.js";

/** Line controllers the bench can run at once, each its own participant (token bench-apcs-<n>). */
export const BENCH_LINES = 20;

/** The bearer token of line `n` (1-based); the relay ignores it. */
export function lineToken(n: number): string {
  return `bench-apcs-${n}`;
}

/**
 * One participant per line, so no per-participant limit (active orders,
 * backlog share, streams) shapes the figures. 20 keeps participants ×
 * MAX_ACTIVE_ORDERS within the default MAX_STREAMS_PER_ROLE.
 */
function benchTokens(): string {
  const lines = Array.from({ length: BENCH_LINES }, (_, i) => `${lineToken(i + 1)}=apcs:77000001${String(i + 1).padStart(2, "0")}`);
  return [...lines, "dev-oms=oms", "dev-registrar=registrar", "dev-admin=admin"].join(",");
}

export interface BenchMeshOptions {
  /** Codes per second the Emission server emits (EMISSION_RATE); the bench runs it unthrottled unless it measures pacing. */
  emissionRate: number;
  /** MongoDB for every role's state; the embedded store without. */
  mongoUri?: string;
}

export interface BenchMesh {
  /** Bottom-up: emission-server, registrar, oms. */
  hops: BenchProcess[];
  omsAddress: string;
  stop(): Promise<void>;
}

function benchProcess(p: RoleProcess): BenchProcess {
  return { role: p.role, address: p.address, pid: p.child.pid ?? 0, stop: () => p.stop() };
}

/** The three roles of the mesh as processes on loopback, as `npm start` would run them. */
export async function startBenchMesh(o: BenchMeshOptions): Promise<BenchMesh> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: "warn",
    EMISSION_RATE: String(o.emissionRate),
    MESH_TOKENS: benchTokens(),
    OMS_TOKEN: "dev-oms",
    REGISTRAR_TOKEN: "dev-registrar",
  };
  // Databases of this run's own, dropped when it stops (on a MongoDB at MONGODB_URI they would stay behind).
  const prefix = `bench-${randomBytes(3).toString("hex")}-`;
  if (o.mongoUri === undefined) delete env.MONGODB_URI;
  else {
    env.MONGODB_URI = o.mongoUri;
    env.MONGODB_DATABASE_PREFIX = prefix;
  }
  const started: RoleProcess[] = [];
  try {
    for (const role of SERVER_ROLES) {
      const below = started.at(-1);
      const args = below === undefined ? [] : [below.role === "emission-server" ? "--emission-server" : "--registrar", below.address];
      started.push(await startRoleProcess(role, { env, listen: "127.0.0.1:0", args, startTimeoutMs: 60_000 }));
    }
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    throw err;
  }
  return {
    hops: started.map(benchProcess),
    omsAddress: started.at(-1)?.address ?? "",
    async stop() {
      await Promise.all(started.map((p) => p.stop()));
      if (o.mongoUri !== undefined) await dropRun(o.mongoUri, prefix);
    },
  };
}

/** Peak resident memory of a process since start or the last resetPeakRss, from the kernel's high-water mark. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
}

/** Resets a process's high-water mark (Linux: "5" to clear_refs); false where the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}
