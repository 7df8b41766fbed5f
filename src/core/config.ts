import { Command, InvalidArgumentError } from "commander";
import { parseTokens, type Caller } from "./auth.js";
import { loadTls, type TlsMaterial } from "./tls.js";

/** host:port of a server role, as it listens and as the role above dials it. */
export interface Address {
  host: string;
  port: number;
}

export interface MeshConfig {
  logLevel: string;
  /**
   * MongoDB for every role's state; unset means the embedded store. Each role
   * uses its own database: `<databasePrefix><role>`.
   */
  mongodb?: { uri: string; databasePrefix: string };
  /** Bearer token → caller, shared by every server role. */
  tokens: Map<string, Caller>;
  /** True when MESH_TOKENS is unset and the well-known development tokens are in force. */
  devTokens: boolean;
  /** Largest message a server accepts (a 10 × 150 000-serial order fits). */
  maxMessageBytes: number;
  /** How long a waiting code stream sleeps before it re-reads its store. */
  recheckMs: number;
  /** Deadline of each unary call one role makes to the role below. */
  callTimeoutMs: number;
  /** Server-role processing (IOTP §4.5): stored replies, overload, retransmission. */
  serverRole: {
    /** How often an instance records in its role's store that it is alive. */
    instanceHeartbeatMs: number;
    /** After how long without a heartbeat an instance counts as dead, and its claims and leases are taken over. */
    instanceDeadMs: number;
    /** How long stored replies are kept. */
    replyTtlMs: number;
    /** How long a claim on a running call holds if its process dies. */
    replyLeaseMs: number;
    /** How long a duplicate waits for the original call's reply. */
    duplicateWaitMs: number;
    maxInFlight: number;
    maxStreams: number;
    retryHintMs: number;
    /** How long an instance holds background work (emission, filling) without renewing it. */
    workLeaseMs: number;
    /** How long codes of a finished order are kept after it was closed or cancelled. */
    codeRetentionMs: number;
  };
  /** How a client retransmits on UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED. */
  retransmit: { attempts: number; initialBackoffMs: number; maxBackoffMs: number };
  oms: { address: Address; token: string };
  registrar: { address: Address; token: string };
  emissionServer: {
    address: Address;
    /** Codes emitted per second: paces emission and gives the readiness estimate. */
    emissionRate: number;
    blockSize: number;
    maxActiveOrders: number;
    /** "EK01:base64secret,..."; empty means the ring kept in the Emission server's store (src/emission-server/signing-keys.ts). */
    signingKeys: string;
    activeKeyId: string;
  };
  /**
   * TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE, read at start-up. Set: the
   * server role serves TLS (mutual with a CA) and dials the role below over
   * TLS presenting its certificate. Unset: cleartext h2c both ways.
   */
  tls?: TlsMaterial;
}

/** Development tokens, so `npm start` works out of the box; production sets MESH_TOKENS. */
export const DEV_TOKENS = "dev-apcs=apcs:7700000001,dev-apcs-2=apcs:7700000002,dev-oms=oms,dev-registrar=registrar,dev-admin=admin";

/** Every default, in one place. */
const DEFAULTS = {
  logLevel: "info",
  tokens: DEV_TOKENS,
  maxMessageBytes: 64 * 1024 * 1024,
  recheckMs: 1_000,
  callTimeoutMs: 30_000,
  instanceHeartbeatMs: 1_000,
  instanceDeadMs: 3_000,
  replyTtlMs: 24 * 60 * 60 * 1000,
  replyLeaseMs: 30_000,
  duplicateWaitMs: 10_000,
  maxInFlight: 256,
  maxStreams: 4_096,
  retryHintMs: 250,
  workLeaseMs: 15_000,
  codeRetentionMs: 7 * 24 * 60 * 60 * 1000,
  retransmitAttempts: 6,
  initialBackoffMs: 100,
  maxBackoffMs: 5_000,
  oms: "127.0.0.1:50051",
  registrar: "127.0.0.1:50052",
  emissionServer: "127.0.0.1:50053",
  omsToken: "dev-oms",
  registrarToken: "dev-registrar",
  emissionRate: 100_000,
  blockSize: 1_000,
  maxActiveOrders: 100,
} as const;

export function parseAddress(value: string): Address {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (m === null || port > 65_535) throw new InvalidArgumentError(`${JSON.stringify(value)} is not host:port`);
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive integer`);
  return n;
}

/**
 * Reads the configuration once at start-up: flags win over environment
 * variables, which win over the defaults.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): MeshConfig {
  const e = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const program = new Command()
    .allowUnknownOption(false)
    .option("--oms <host:port>", "OMS address (env OMS_ADDR)", parseAddress)
    .option("--registrar <host:port>", "Registrar address (env REGISTRAR_ADDR)", parseAddress)
    .option("--emission-server <host:port>", "Emission server address (env EMISSION_SERVER_ADDR)", parseAddress)
    .option("--emission-rate <codes/s>", "codes emitted per second (env EMISSION_RATE)", positive)
    .option("--block-size <codes>", "codes per block (env BLOCK_SIZE)", positive)
    .option("--log-level <level>", "pino log level (env LOG_LEVEL)")
    .exitOverride();
  program.parse([...argv], { from: "node" });
  const o = program.opts<{
    oms?: Address; registrar?: Address; emissionServer?: Address;
    emissionRate?: number; blockSize?: number; logLevel?: string;
  }>();
  const tls = loadTls({ certFile: e("TLS_CERT_FILE"), keyFile: e("TLS_KEY_FILE"), caFile: e("TLS_CA_FILE") });
  return {
    logLevel: o.logLevel ?? e("LOG_LEVEL") ?? DEFAULTS.logLevel,
    ...(e("MONGODB_URI") === undefined ? {} : { mongodb: { uri: e("MONGODB_URI") ?? "", databasePrefix: e("MONGODB_DATABASE_PREFIX") ?? "emission-mesh-" } }),
    tokens: parseTokens(e("MESH_TOKENS") ?? DEFAULTS.tokens),
    devTokens: e("MESH_TOKENS") === undefined,
    maxMessageBytes: DEFAULTS.maxMessageBytes,
    recheckMs: positive(e("STREAM_RECHECK_MS") ?? String(DEFAULTS.recheckMs)),
    callTimeoutMs: positive(e("CALL_TIMEOUT_MS") ?? String(DEFAULTS.callTimeoutMs)),
    serverRole: {
      instanceHeartbeatMs: positive(e("INSTANCE_HEARTBEAT_MS") ?? String(DEFAULTS.instanceHeartbeatMs)),
      instanceDeadMs: positive(e("INSTANCE_DEAD_MS") ?? String(DEFAULTS.instanceDeadMs)),
      replyTtlMs: positive(e("REPLY_TTL_MS") ?? String(DEFAULTS.replyTtlMs)),
      replyLeaseMs: positive(e("REPLY_LEASE_MS") ?? String(DEFAULTS.replyLeaseMs)),
      duplicateWaitMs: positive(e("DUPLICATE_WAIT_MS") ?? String(DEFAULTS.duplicateWaitMs)),
      maxInFlight: positive(e("MAX_IN_FLIGHT") ?? String(DEFAULTS.maxInFlight)),
      maxStreams: positive(e("MAX_STREAMS") ?? String(DEFAULTS.maxStreams)),
      retryHintMs: positive(e("RETRY_HINT_MS") ?? String(DEFAULTS.retryHintMs)),
      workLeaseMs: positive(e("WORK_LEASE_MS") ?? String(DEFAULTS.workLeaseMs)),
      codeRetentionMs: positive(e("CODE_RETENTION_MS") ?? String(DEFAULTS.codeRetentionMs)),
    },
    retransmit: {
      attempts: positive(e("RETRANSMIT_ATTEMPTS") ?? String(DEFAULTS.retransmitAttempts)),
      initialBackoffMs: positive(e("RETRANSMIT_BACKOFF_MS") ?? String(DEFAULTS.initialBackoffMs)),
      maxBackoffMs: positive(e("RETRANSMIT_MAX_BACKOFF_MS") ?? String(DEFAULTS.maxBackoffMs)),
    },
    oms: {
      address: o.oms ?? parseAddress(e("OMS_ADDR") ?? DEFAULTS.oms),
      token: e("OMS_TOKEN") ?? DEFAULTS.omsToken,
    },
    registrar: {
      address: o.registrar ?? parseAddress(e("REGISTRAR_ADDR") ?? DEFAULTS.registrar),
      token: e("REGISTRAR_TOKEN") ?? DEFAULTS.registrarToken,
    },
    emissionServer: {
      address: o.emissionServer ?? parseAddress(e("EMISSION_SERVER_ADDR") ?? DEFAULTS.emissionServer),
      emissionRate: o.emissionRate ?? positive(e("EMISSION_RATE") ?? String(DEFAULTS.emissionRate)),
      blockSize: o.blockSize ?? positive(e("BLOCK_SIZE") ?? String(DEFAULTS.blockSize)),
      maxActiveOrders: positive(e("MAX_ACTIVE_ORDERS") ?? String(DEFAULTS.maxActiveOrders)),
      signingKeys: e("EMISSION_KEYS") ?? "",
      activeKeyId: e("EMISSION_ACTIVE_KEY") ?? "",
    },
    ...(tls === undefined ? {} : { tls }),
  };
}

export function urlOf(a: Address): string {
  return `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
