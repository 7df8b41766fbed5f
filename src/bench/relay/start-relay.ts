import { fileURLToPath } from "node:url";
import { startListeningProcess } from "../../core/process/index.js";
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

async function startHop(role: RelayRole, below: string | undefined): Promise<BenchProcess> {
  const args = ["--role", role, "--listen", "127.0.0.1:0", ...(below === undefined ? [] : ["--below", below])];
  const hop = await startListeningProcess({ name: `relay ${role}`, entry: ENTRY, args });
  return { role, address: hop.address, pid: hop.child.pid ?? 0, stop: () => hop.stop() };
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
