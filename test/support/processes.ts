import { appendFileSync } from "node:fs";
import { startRoleProcess, type RoleProcess, type ServerRole } from "../../src/core/process/role-process.js";
import { TEST_ENV } from "./test-config.js";

export type { RoleProcess, ServerRole };

/**
 * A server role as its own process on 127.0.0.1 (port 0 unless given), with
 * the test tokens and keys; `watch` sees every line it logs.
 */
export function startRole(role: ServerRole, env: Record<string, string>, port = 0, watch?: (line: string) => void): Promise<RoleProcess> {
  // E2E_LOG_DIR=dir keeps every role's JSON log, for looking into a failed run.
  const dir = process.env.E2E_LOG_DIR;
  const keep = dir === undefined ? undefined : (line: string) => appendFileSync(`${dir}/${role}-${process.pid}.log`, `${line}\n`);
  const onLine =
    keep === undefined && watch === undefined
      ? undefined
      : (line: string) => {
          keep?.(line);
          watch?.(line);
        };
  return startRoleProcess(role, {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, LOG_LEVEL: "info", ...env },
    listen: `127.0.0.1:${port}`,
    ...(onLine === undefined ? {} : { onLine }),
  });
}

/** The three roles bottom-up, each pointed at the one below. */
export async function startMesh(
  env: Record<string, string> = {},
): Promise<{ emission: RoleProcess; registrar: RoleProcess; oms: RoleProcess; stop(): Promise<void> }> {
  const emission = await startRole("emission-server", env);
  const registrar = await startRole("registrar", { ...env, EMISSION_SERVER_ADDR: emission.address });
  const oms = await startRole("oms", { ...env, REGISTRAR_ADDR: registrar.address });
  return {
    emission,
    registrar,
    oms,
    async stop() {
      await Promise.all([oms.stop(), registrar.stop(), emission.stop()]);
    },
  };
}
