import { Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import { type Caller, parseTokens } from "./iotp/index.js";
import { loadTls, type TlsMaterial } from "./rpc/index.js";

/** host:port of a server role, as it listens and as the role above dials it. */
export interface Address {
  host: string;
  port: number;
}

export function parseAddress(value: string): Address {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (m === null || port > 65_535) throw new InvalidArgumentError(`${JSON.stringify(value)} is not host:port`);
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
}

/** One environment variable: its name, and a schema that parses its text and supplies its default. */
interface Setting<T> {
  env: string;
  schema: z.ZodType<T>;
}

/** The values a group of settings parses to, field by field (their docs carry over). */
type Values<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

const POSITIVE = "expected a positive integer";
const POSITIVE_INT = z.coerce.number({ error: POSITIVE }).int({ error: POSITIVE }).positive({ error: POSITIVE });

function positiveInt(env: string, fallback: number): Setting<number> {
  return { env, schema: POSITIVE_INT.default(fallback) };
}

const COUNT = "expected a whole number, 0 or more";

function count(env: string, fallback: number): Setting<number> {
  return { env, schema: z.coerce.number({ error: COUNT }).int({ error: COUNT }).min(0, { error: COUNT }).default(fallback) };
}

const PERCENT = "expected a whole percentage from 1 to 100";

function percent(env: string, fallback: number): Setting<number> {
  return { env, schema: POSITIVE_INT.max(100, { error: PERCENT }).default(fallback) };
}

const FLAG = 'expected "true" or "false" (or 1/0)';

function flag(env: string, fallback: boolean): Setting<boolean> {
  return {
    env,
    schema: z
      .enum(["true", "false", "1", "0"], { error: FLAG })
      .default(fallback ? "true" : "false")
      .transform((v) => v === "true" || v === "1"),
  };
}

function text(env: string, fallback: string): Setting<string> {
  return { env, schema: z.string().default(fallback) };
}

function address(env: string, fallback: string): Setting<Address> & { fallback: string } {
  return {
    env,
    fallback,
    schema: z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        try {
          return parseAddress(value);
        } catch {
          ctx.addIssue({ code: "custom", message: "expected host:port" });
          return z.NEVER;
        }
      }),
  };
}

/** An address that may be left unset (empty): the listener is then off. */
function optionalAddress(env: string): Setting<Address | undefined> {
  return {
    env,
    schema: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return undefined;
        try {
          return parseAddress(value);
        } catch {
          ctx.addIssue({ code: "custom", message: "expected host:port" });
          return z.NEVER;
        }
      }),
  };
}

const SECOND_MS = 1_000;
const DAY_MS = 24 * 60 * 60 * SECOND_MS;

/** Development tokens, so `npm start` works out of the box; production sets MESH_TOKENS. */
export const DEV_TOKENS = "dev-apcs=apcs:7700000001,dev-apcs-2=apcs:7700000002,dev-oms=oms,dev-registrar=registrar,dev-admin=admin";

/**
 * Largest response a client of the mesh reads (a code block must never be
 * refused for size). What a server reads of a request is bounded per method
 * (message-limits.ts).
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

// Every setting read from the environment is declared once below, with its
// variable and its default; MeshConfig's fields are typed from these
// declarations, so adding a setting is one line in its group.

const GENERAL = {
  /** pino log level. */
  logLevel: text("LOG_LEVEL", "info"),
  /**
   * How long a waiting code stream sleeps before it re-reads its store: what
   * another instance stored is seen only then, at every hop a take-over adds it.
   */
  recheckMs: positiveInt("STREAM_RECHECK_MS", SECOND_MS / 4),
  /** Deadline of each attempt of a unary call one role makes to the role below. */
  callTimeoutMs: positiveInt("CALL_TIMEOUT_MS", 30 * SECOND_MS),
  /**
   * Let the role below gzip its responses (code streams): for roles a slow
   * WAN link apart, where bytes cost more than the CPU (downstream-transport.ts).
   */
  hopGzip: flag("HOP_GZIP", false),
};

/** What an operator sees: metrics and traces (README, "Observe it"). */
const TELEMETRY = {
  /** host:port of the Prometheus metrics listener (GET /metrics); unset: no listener. */
  metricsAddr: optionalAddress("METRICS_ADDR"),
  /** "otlp", "console" or "none"; unset: OTLP when an OTLP endpoint is set, else no tracing. */
  tracesExporter: text("OTEL_TRACES_EXPORTER", ""),
  /** Where OTLP spans go (the exporter also reads its other OTEL_EXPORTER_OTLP_* settings itself). */
  otlpEndpoint: text("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
  otlpTracesEndpoint: text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
  /** The service name on a role's spans; unset: the role's name. */
  serviceName: text("OTEL_SERVICE_NAME", ""),
};

/** Server-role processing (IOTP §4.5): stored replies, overload, leases. */
const SERVER_ROLE = {
  /** How often an instance records in its role's store that it is alive. */
  instanceHeartbeatMs: positiveInt("INSTANCE_HEARTBEAT_MS", SECOND_MS / 2),
  /**
   * After how long without a heartbeat an instance counts as dead, and its
   * claims and leases are taken over: six missed beats (on a loaded 2-core
   * machine beats were seen 2-4 s late, so less took live instances for dead).
   */
  instanceDeadMs: positiveInt("INSTANCE_DEAD_MS", 3 * SECOND_MS),
  /** How long stored replies are kept. */
  replyTtlMs: positiveInt("REPLY_TTL_MS", DAY_MS),
  /** How long a claim on a running call holds if its process dies. */
  replyLeaseMs: positiveInt("REPLY_LEASE_MS", 30 * SECOND_MS),
  /** How long a duplicate waits for the original call's reply. */
  duplicateWaitMs: positiveInt("DUPLICATE_WAIT_MS", 10 * SECOND_MS),
  /** Unary calls a server runs at once before it answers RESOURCE_EXHAUSTED. */
  maxInFlight: positiveInt("MAX_IN_FLIGHT", 256),
  /** Streams a server keeps open at once. */
  maxStreams: positiveInt("MAX_STREAMS", 4_096),
  /** The pushback an overloaded server asks for. */
  retryHintMs: positiveInt("RETRY_HINT_MS", 250),
  /** How long an instance holds background work (emission, filling) without renewing it. */
  workLeaseMs: positiveInt("WORK_LEASE_MS", 15 * SECOND_MS),
  /** How long codes of a finished order are kept after it was closed or cancelled. */
  codeRetentionMs: positiveInt("CODE_RETENTION_MS", 7 * DAY_MS),
  /** How often a role checks that its store and the role below answer (readiness). */
  healthProbeMs: positiveInt("HEALTH_PROBE_MS", SECOND_MS),
  /** A store or role below that has not answered a probe within this long counts as not answering. */
  healthProbeTimeoutMs: positiveInt("HEALTH_PROBE_TIMEOUT_MS", 2 * SECOND_MS),
  /** A role below unreachable this long makes the role NOT_SERVING (a short blip does not). */
  belowUnreachableMs: positiveInt("ROLE_BELOW_UNREACHABLE_MS", 10 * SECOND_MS),
  /** On SIGTERM: how long calls in progress may take to finish before they are cut. */
  shutdownGraceMs: positiveInt("SHUTDOWN_GRACE_MS", 15 * SECOND_MS),
};

/**
 * What a caller may make a role keep (retention.ts, refusal-tally.ts): every
 * store a caller writes to expires and is capped per caller.
 */
const RETENTION = {
  /** How long journal entries are kept. */
  journalRetentionMs: positiveInt("JOURNAL_RETENTION_MS", 30 * DAY_MS),
  /** Journal entries kept per participant (service-role entries: per "" participant); past it the oldest are dropped. */
  journalMaxPerCaller: positiveInt("JOURNAL_MAX_PER_CALLER", 10_000),
  /** Stored replies a line controller may have; past it a new state-changing call is refused (RESOURCE_EXHAUSTED). */
  replyMaxPerParticipant: positiveInt("REPLY_MAX_PER_PARTICIPANT", 100_000),
  /** Stored replies the role above (OMS, the Registrar: one caller for every participant) may have; past it new calls are refused. */
  replyMaxPerRole: positiveInt("REPLY_MAX_PER_ROLE", 2_000_000),
  /** How long OMS keeps a cancel mark (a CancelOrder by create_request_id); at least as long as a stored reply. */
  cancelMarkRetentionMs: positiveInt("CANCEL_MARK_RETENTION_MS", DAY_MS),
  /** Cancel marks per participant; past it a CancelOrder by create_request_id is refused (RESOURCE_EXHAUSTED). */
  cancelMarkMaxPerCaller: positiveInt("CANCEL_MARK_MAX_PER_CALLER", 10_000),
  /** Refusals (auth, malformed headers, overload) are journaled once per cause per this window, with their count. */
  refusalWindowMs: positiveInt("REFUSAL_WINDOW_MS", 60 * SECOND_MS),
};

/**
 * Streams (stream-gate.ts). One caller is one participant's line controllers
 * (all their connections), or the role above as a whole. The role above
 * multiplexes one StreamCodes per order it fills over ONE connection, and it
 * fills every order still active at the Emission server, at most
 * participants × MAX_ACTIVE_ORDERS: maxStreamsPerRole must hold that many, and
 * maxStreamsPerConnection that plus the role's unary calls (MAX_IN_FLIGHT);
 * loadConfig refuses settings that break either.
 */
const STREAMS = {
  /** Open streams (WatchOrder, StreamCodes) of one participant, all its connections together. */
  maxStreamsPerParticipant: positiveInt("MAX_STREAMS_PER_PARTICIPANT", 256),
  /** Open streams of the role above (OMS at the Registrar, the Registrar at the Emission server), and of operators. */
  maxStreamsPerRole: positiveInt("MAX_STREAMS_PER_ROLE", 2_048),
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams (unary calls too) at once on one connection; more are refused (REFUSED_STREAM). */
  maxStreamsPerConnection: positiveInt("MAX_STREAMS_PER_CONNECTION", 4_096),
  /** Health Watch and reflection streams (no token needed) at once on one connection. */
  maxInfraStreamsPerConnection: positiveInt("MAX_INFRA_STREAMS_PER_CONNECTION", 16),
  /** HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE: the headers of one call, in bytes (uncompressed); more resets the stream. */
  maxHeaderListBytes: positiveInt("MAX_HEADER_LIST_BYTES", 16 * 1024),
};

/** How a client retransmits on UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and ABORTED. */
const RETRANSMIT = {
  /** Attempts in all, the first included. */
  attempts: positiveInt("RETRANSMIT_ATTEMPTS", 6),
  /** Backoff before the second attempt; it doubles, with jitter, up to maxBackoffMs. */
  initialBackoffMs: positiveInt("RETRANSMIT_BACKOFF_MS", 100),
  maxBackoffMs: positiveInt("RETRANSMIT_MAX_BACKOFF_MS", 5 * SECOND_MS),
};

const OMS = {
  address: address("OMS_ADDR", "127.0.0.1:50051"),
  /** Token OMS presents to the Registrar. */
  token: text("OMS_TOKEN", "dev-oms"),
  /** WatchOrder: a change of an order's code counters alone is sent at most this often (ms); a status change at once. */
  watchProgressMs: count("WATCH_PROGRESS_MS", 250),
};

const REGISTRAR = {
  address: address("REGISTRAR_ADDR", "127.0.0.1:50052"),
  /** Token the Registrar presents to the Emission server. */
  token: text("REGISTRAR_TOKEN", "dev-registrar"),
};

const EMISSION_SERVER = {
  address: address("EMISSION_SERVER_ADDR", "127.0.0.1:50053"),
  /** Codes emitted per second: paces emission and gives the readiness estimate. */
  emissionRate: positiveInt("EMISSION_RATE", 100_000),
  /** Codes per block. */
  blockSize: positiveInt("BLOCK_SIZE", 1_000),
  /** Worker threads that sign and encode blocks beside the main thread; 0 makes them on the main thread. */
  blockWorkers: count("EMISSION_WORKERS", 1),
  /** Active orders per participant. */
  maxActiveOrders: positiveInt("MAX_ACTIVE_ORDERS", 100),
  /**
   * Share (percent) of the emission backlog (codes ordered and not yet emitted, on every instance)
   * one participant may hold with its new order; beyond it the order is refused at step 5 with
   * FAILED_PRECONDITION (BACKLOG_SHARE_EXCEEDED) and a retry hint. A participant with nothing
   * waiting always gets one order in.
   */
  maxBacklogShare: percent("MAX_BACKLOG_SHARE", 50),
  /** Backlog (codes, new order included) up to which no participant is refused for its share. */
  backlogFreeCodes: positiveInt("BACKLOG_FREE_CODES", 1_000_000),
  /** "EK01:base64secret,..."; empty means the ring kept in the Emission server's store (src/emission-server/signing-keys.ts). */
  signingKeys: text("EMISSION_KEYS", ""),
  /** Empty means the last key listed. */
  activeKeyId: text("EMISSION_ACTIVE_KEY", ""),
};

const MONGODB = {
  uri: text("MONGODB_URI", ""),
  /** Each role uses its own database: `<databasePrefix><role>`. */
  databasePrefix: text("MONGODB_DATABASE_PREFIX", "emission-mesh-"),
  /**
   * A role's code blocks and serials (its bulk collections) go to a database of
   * their own, the role's name plus this suffix, unless they exist in the role's
   * database already (stored before the split: they stay there).
   */
  bulkDatabaseSuffix: text("MONGODB_BULK_DATABASE_SUFFIX", "-codes"),
};

/**
 * Reads a group of settings; an empty variable counts as unset. A bad value
 * stops start-up with a message naming the variable and what it expects.
 */
function readSettings<S extends Record<string, Setting<unknown>>>(group: S, env: NodeJS.ProcessEnv): Values<S> {
  const values: Record<string, unknown> = {};
  for (const [key, { env: name, schema }] of Object.entries(group)) {
    const raw = env[name] === "" ? undefined : env[name];
    const r = schema.safeParse(raw);
    if (!r.success) throw new InvalidArgumentError(`${name}=${JSON.stringify(raw)}: ${r.error.issues[0]?.message ?? "invalid value"}`);
    values[key] = r.data;
  }
  return values as Values<S>;
}

/** The tracing settings (OTEL_*) alone, for a program that is not a server role (the APCS CLI). */
export function tracingSettings(env: NodeJS.ProcessEnv): Values<typeof TELEMETRY> {
  return readSettings(TELEMETRY, env);
}

/** What a client outside a server role (the APCS library and CLI) starts from. */
export const CLIENT_DEFAULTS = {
  /** OMS's address as text, as the CLI's help shows it. */
  oms: OMS.address.fallback,
  ...readSettings({ callTimeoutMs: GENERAL.callTimeoutMs }, {}),
  retransmit: readSettings(RETRANSMIT, {}),
};

export interface MeshConfig extends Values<typeof GENERAL> {
  /** MongoDB for every role's state; unset (no MONGODB_URI) means the embedded store. */
  mongodb?: Values<typeof MONGODB>;
  /** Bearer token → caller (MESH_TOKENS, `token=role[:participant],…`), shared by every server role. */
  tokens: Map<string, Caller>;
  /** True when MESH_TOKENS is unset and the well-known development tokens are in force. */
  devTokens: boolean;
  /** Largest response this role reads from the role below; requests are bounded per method (message-limits.ts). */
  maxMessageBytes: number;
  serverRole: Values<typeof SERVER_ROLE>;
  telemetry: Values<typeof TELEMETRY>;
  retention: Values<typeof RETENTION>;
  streams: Values<typeof STREAMS>;
  retransmit: Values<typeof RETRANSMIT>;
  oms: Values<typeof OMS>;
  registrar: Values<typeof REGISTRAR>;
  emissionServer: Values<typeof EMISSION_SERVER>;
  /**
   * TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE, read at start-up. Set: the
   * server role serves TLS (mutual with a CA) and dials the role below over
   * TLS presenting its certificate. Unset: cleartext h2c both ways.
   */
  tls?: TlsMaterial;
}

/** The flags a server role takes, each standing for its environment variable. */
function flagsOf(argv: readonly string[]): NodeJS.ProcessEnv {
  const program = new Command()
    .allowUnknownOption(false)
    .option("--oms <host:port>", "OMS address (env OMS_ADDR)", addressFlag)
    .option("--registrar <host:port>", "Registrar address (env REGISTRAR_ADDR)", addressFlag)
    .option("--emission-server <host:port>", "Emission server address (env EMISSION_SERVER_ADDR)", addressFlag)
    .option("--emission-rate <codes/s>", "codes emitted per second (env EMISSION_RATE)", positiveFlag)
    .option("--block-size <codes>", "codes per block (env BLOCK_SIZE)", positiveFlag)
    .option("--log-level <level>", "pino log level (env LOG_LEVEL)")
    .exitOverride();
  program.parse([...argv], { from: "node" });
  const o = program.opts<{
    oms?: string;
    registrar?: string;
    emissionServer?: string;
    emissionRate?: string;
    blockSize?: string;
    logLevel?: string;
  }>();
  return {
    OMS_ADDR: o.oms,
    REGISTRAR_ADDR: o.registrar,
    EMISSION_SERVER_ADDR: o.emissionServer,
    EMISSION_RATE: o.emissionRate,
    BLOCK_SIZE: o.blockSize,
    LOG_LEVEL: o.logLevel,
  };
}

function addressFlag(value: string): string {
  parseAddress(value);
  return value;
}

function positiveFlag(value: string): string {
  if (!POSITIVE_INT.safeParse(value).success) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive integer`);
  return value;
}

/**
 * Reads the configuration once at start-up: flags win over environment
 * variables, which win over the defaults.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): MeshConfig {
  const flags = Object.fromEntries(Object.entries(flagsOf(argv)).filter(([, v]) => v !== undefined));
  const all = { ...env, ...flags };
  const tokens = all.MESH_TOKENS === "" ? undefined : all.MESH_TOKENS;
  const mongodb = readSettings(MONGODB, all);
  const tls = loadTls({
    certFile: nonEmpty(all.TLS_CERT_FILE),
    keyFile: nonEmpty(all.TLS_KEY_FILE),
    caFile: nonEmpty(all.TLS_CA_FILE),
  });
  const config: MeshConfig = {
    ...readSettings(GENERAL, all),
    ...(mongodb.uri === "" ? {} : { mongodb }),
    tokens: parseTokens(tokens ?? DEV_TOKENS),
    devTokens: tokens === undefined,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    serverRole: readSettings(SERVER_ROLE, all),
    telemetry: readSettings(TELEMETRY, all),
    retention: readSettings(RETENTION, all),
    streams: readSettings(STREAMS, all),
    retransmit: readSettings(RETRANSMIT, all),
    oms: readSettings(OMS, all),
    registrar: readSettings(REGISTRAR, all),
    emissionServer: readSettings(EMISSION_SERVER, all),
    ...(tls === undefined ? {} : { tls }),
  };
  checkBounds(config);
  return config;
}

/** Settings that only work together: each broken relation stops start-up, naming the variables. */
function checkBounds(c: MeshConfig): void {
  // A stored reply must outlive every retransmission of its call (each attempt's deadline plus the longest backoff).
  const retransmitMs = c.retransmit.attempts * (c.callTimeoutMs + c.retransmit.maxBackoffMs);
  if (c.serverRole.replyTtlMs < retransmitMs)
    throw new InvalidArgumentError(
      `REPLY_TTL_MS (${c.serverRole.replyTtlMs}) must be at least RETRANSMIT_ATTEMPTS × (CALL_TIMEOUT_MS + RETRANSMIT_MAX_BACKOFF_MS) = ${retransmitMs}`,
    );
  const participants = new Set([...c.tokens.values()].filter((t) => t.role === "apcs").map((t) => t.participantId)).size;
  const filling = participants * c.emissionServer.maxActiveOrders;
  const s = c.streams;
  if (s.maxStreamsPerRole < filling)
    throw new InvalidArgumentError(
      `MAX_STREAMS_PER_ROLE (${s.maxStreamsPerRole}) must hold one code stream per order the role above fills at once: participants × MAX_ACTIVE_ORDERS = ${filling}`,
    );
  if (s.maxStreamsPerConnection < s.maxStreamsPerRole + c.serverRole.maxInFlight)
    throw new InvalidArgumentError(
      `MAX_STREAMS_PER_CONNECTION (${s.maxStreamsPerConnection}) must be at least MAX_STREAMS_PER_ROLE + MAX_IN_FLIGHT (${s.maxStreamsPerRole + c.serverRole.maxInFlight}): the role above sends all its calls over one connection`,
    );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

export function urlOf(a: Address): string {
  return `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
