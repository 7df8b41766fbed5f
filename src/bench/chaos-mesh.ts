import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { DEV_TOKENS } from "../core/config.js";
import { type RoleProcess, SERVER_ROLES, type ServerRole, startRoleProcess } from "../core/process/index.js";
import { startBalancer } from "./tcp-balancer.js";

/** One instance slot of a role: a fixed loopback port it is restarted on after each kill. */
export interface Slot {
  name: string;
  role: ServerRole;
  port: number;
  process: RoleProcess | undefined;
}

export interface ChaosMesh {
  slots: Slot[];
  /** Where the line controllers dial OMS (a balancer in front of its instances). */
  omsAddress: string;
  /** Where the Emission server is reached (for VerifyCode). */
  emissionAddress: string;
  kill(slot: Slot): Promise<void>;
  restart(slot: Slot): Promise<void>;
  stop(): Promise<void>;
}

export interface ChaosMeshOptions {
  uri: string;
  prefix: string;
  /** Instances per role. */
  instances: Record<ServerRole, number>;
  /** Extra environment for every role (on top of the caller's). */
  env: Record<string, string>;
  /** Keeps each instance's log lines in <logDir>/<role>#<n>.log. */
  logDir?: string;
}

/** The flag naming the role below, by role. */
const BELOW: Record<ServerRole, { flag: string; role: ServerRole } | undefined> = {
  "emission-server": undefined,
  registrar: { flag: "--emission-server", role: "emission-server" },
  oms: { flag: "--registrar", role: "registrar" },
};

/**
 * Every role as processes on loopback, several instances of a role sharing
 * one database behind a TCP balancer, as a deployment would run them. A
 * killed instance comes back on the same port with the same settings.
 */
export async function startChaosMesh(o: ChaosMeshOptions): Promise<ChaosMesh> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: "warn",
    MESH_TOKENS: DEV_TOKENS,
    OMS_TOKEN: "dev-oms",
    REGISTRAR_TOKEN: "dev-registrar",
    ...o.env,
    MONGODB_URI: o.uri,
    MONGODB_DATABASE_PREFIX: o.prefix,
  };
  delete env.EMISSION_KEYS; // the stored key ring: it must outlive every kill
  if (o.logDir !== undefined) mkdirSync(o.logDir, { recursive: true });
  const slots: Slot[] = [];
  const fronts = new Map<ServerRole, { address: string; stop(): Promise<void> }>();
  const argsOf = (role: ServerRole): string[] => {
    const below = BELOW[role];
    return below === undefined ? [] : [below.flag, fronts.get(below.role)?.address ?? ""];
  };
  const launch = async (slot: Slot): Promise<void> => {
    const keep =
      o.logDir === undefined ? undefined : (line: string): void => appendFileSync(join(o.logDir ?? "", `${slot.name}.log`), `${line}\n`);
    slot.process = await startRoleProcess(slot.role, {
      env,
      listen: `127.0.0.1:${slot.port}`,
      args: argsOf(slot.role),
      startTimeoutMs: 60_000,
      ...(keep === undefined ? {} : { onLine: keep }),
    });
    slot.port = slot.process.port;
  };
  try {
    for (const role of SERVER_ROLES) {
      const mine: Slot[] = [];
      for (let i = 0; i < o.instances[role]; i++) {
        const slot: Slot = { name: `${role}#${i + 1}`, role, port: 0, process: undefined };
        await launch(slot);
        mine.push(slot);
      }
      slots.push(...mine);
      fronts.set(role, await startBalancer(mine.map((s) => `127.0.0.1:${s.port}`)));
    }
  } catch (err) {
    await Promise.all(slots.map((s) => s.process?.stop("SIGKILL")));
    await Promise.all([...fronts.values()].map((f) => f.stop()));
    throw err;
  }
  return {
    slots,
    omsAddress: fronts.get("oms")?.address ?? "",
    emissionAddress: fronts.get("emission-server")?.address ?? "",
    async kill(slot) {
      await slot.process?.stop("SIGKILL");
      slot.process = undefined;
    },
    async restart(slot) {
      // The port may still be held for a moment by the dead process's sockets: try again.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch(slot);
          return;
        } catch (err) {
          if (attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async stop() {
      await Promise.all(slots.map((s) => s.process?.stop()));
      await Promise.all([...fronts.values()].map((f) => f.stop()));
    },
  };
}
