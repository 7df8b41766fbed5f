import { loadConfig, type MeshConfig } from "../../src/core/config.js";

/** Tokens of the test mesh: two line controllers of different participants, the service roles and an operator. */
export const TOKENS = {
  apcs: "t-apcs-1",
  apcsOther: "t-apcs-2",
  oms: "t-oms",
  registrar: "t-registrar",
  admin: "t-admin",
} as const;

export const PARTICIPANT = "7700000001";
export const OTHER_PARTICIPANT = "7700000002";

/** A fixed signing key so tests can verify codes themselves. */
export const EMISSION_KEYS = "EK01:c2VjcmV0LXRlc3Qta2V5LWZvci1lbWlzc2lvbi1tZXNoLTEyMzQ1Ng==";

export const TEST_ENV: Record<string, string> = {
  MESH_TOKENS: [
    `${TOKENS.apcs}=apcs:${PARTICIPANT}`,
    `${TOKENS.apcsOther}=apcs:${OTHER_PARTICIPANT}`,
    `${TOKENS.oms}=oms`,
    `${TOKENS.registrar}=registrar`,
    `${TOKENS.admin}=admin`,
  ].join(","),
  OMS_TOKEN: TOKENS.oms,
  REGISTRAR_TOKEN: TOKENS.registrar,
  EMISSION_KEYS,
  LOG_LEVEL: "silent",
};

/** The mesh configuration tests use, with `env` on top of TEST_ENV. */
/** Short leases and re-checks for processes that are killed: a restarted or partner instance picks the work up quickly. */
export const QUICK_TAKE_OVER_ENV: Record<string, string> = {
  WORK_LEASE_MS: "1000",
  REPLY_LEASE_MS: "1000",
  STREAM_RECHECK_MS: "100",
  BLOCK_SIZE: "500",
  EMISSION_RATE: "20000",
  CALL_TIMEOUT_MS: "2000",
};

export function testConfig(env: Record<string, string> = {}): MeshConfig {
  return loadConfig([], { ...TEST_ENV, ...env });
}
