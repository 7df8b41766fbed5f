import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  type AccessPolicy,
  type AdmissionGauge,
  admissionInterceptor,
  authInterceptor,
  type Caller,
  callerKey,
  idempotencyInterceptor,
  type Journal,
  type RefusalTally,
  refusalInterceptor,
  refusalKindOf,
  type ReplyStore,
} from "../iotp/index.js";
import type { Address, MeshConfig } from "../config.js";
import { warmContractRules } from "../../domain/contract-rules.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  afterReplyValues,
  contractInterceptor,
  DEFAULT_MESSAGE_BYTES,
  encodeGrpcMessage,
  errorInterceptor,
  grpcWire,
  HealthState,
  isMutual,
  limitedRouter,
  peerCommonName,
  registerHealth,
  registerReflection,
  requestIdInterceptor,
  serverTlsOptions,
  statusDetailsBin,
  type TlsMaterial,
} from "../rpc/index.js";
import { codesInResponse } from "../codes/index.js";
import { type Logger, Notifier } from "../runtime/index.js";
import { annotateCall, type MeshMetrics, metricsInterceptor, recordReplay, serverTraceInterceptor } from "../telemetry/index.js";
import { StreamGate, type StreamGateGauge } from "./stream-gate.js";
import { CallDrain } from "./call-drain.js";
import { type ReadinessProbes, roleReadiness } from "./readiness.js";
import { shutDown } from "./shutdown.js";

export interface ServerSpec {
  log: Logger;
  /** The role's own services, listed by reflection. */
  services: DescService[];
  policy: AccessPolicy;
  tokens: ReadonlyMap<string, Caller>;
  /** Stored replies of the role's state-changing calls. */
  replies: ReplyStore;
  /** The role's journal. */
  journal: Journal;
  /** Refusals (auth, malformed headers, overload): counted, journaled in aggregate, not logged one by one. */
  refusals: RefusalTally;
  streams: MeshConfig["streams"];
  serverRole: MeshConfig["serverRole"];
  /** The role's metrics: RPCs, admission, replays (absent: counted nowhere). */
  metrics?: MeshMetrics;
  routes(router: ConnectRouter): void;
  /** What the role's readiness depends on (its store, the role below); always ready without. */
  probes?: ReadinessProbes;
  /** Told where the role listens, once it does (host as configured, port as bound). */
  listening?(host: string, port: number): Promise<void>;
}

/**
 * The request handler every server role uses: its routes plus health and
 * reflection, behind the shared interceptors (errors, auth, request ids),
 * with gRPC responses made wire-conformant (Trailers-Only errors, spec
 * grpc-message encoding).
 */
export function createMeshHandler(spec: ServerSpec, health: HealthState, drain?: CallDrain) {
  return grpcWire(
    connectNodeAdapter({
      // Every route has its own limit (limitedRouter); this bounds anything else.
      readMaxBytes: DEFAULT_MESSAGE_BYTES,
      interceptors: meshInterceptors(spec, undefined, drain),
      routes: meshRoutes(spec, health),
      // Background work a call starts (an emission, a fill) waits until its reply has left (after-reply.ts).
      contextValues: (req) => afterReplyValues(req, (err) => spec.log.error({ err }, "work started after a reply failed")),
      fallback: unimplemented,
    }),
  );
}

/**
 * Unknown methods get gRPC status UNIMPLEMENTED, not connect's bare HTTP 404,
 * which grpc-go clients (grpcurl) read as INTERNAL and which breaks their
 * reflection v1 → v1alpha fallback. Trailers-Only: headers set before end()
 * leave as one HEADERS frame with END_STREAM.
 */
export const unimplemented: NonNullable<ConnectNodeAdapterOptions["fallback"]> = (req, res) => {
  res.statusCode = 200;
  res.setHeader("content-type", "application/grpc");
  res.setHeader("grpc-status", "12");
  const message = `unknown method ${req.url ?? ""}`;
  res.setHeader("grpc-message", encodeGrpcMessage(message));
  res.setHeader("grpc-status-details-bin", statusDetailsBin(12, message));
  res.end();
};

/**
 * Outermost first: every call is traced and measured with the code it ends
 * with; every error is logged and mapped; callers are
 * authenticated before anything else (a server shutting down refuses calls
 * even before that); a request breaking its contract is
 * refused before it is stored or worked on; overload is refused before any work;
 * duplicates are answered from stored replies.
 */
export function meshInterceptors(
  spec: ServerSpec,
  gauge: AdmissionGauge = spec.metrics?.admission ?? { inFlight: 0, streams: 0, refused: 0 },
  drain?: CallDrain,
): Interceptor[] {
  const { serverRole: r, metrics } = spec;
  return [
    serverTraceInterceptor(),
    // RPCs are measured only when the metrics are served (METRICS_ADDR).
    ...(metrics?.servedAt === undefined ? [] : [metricsInterceptor(metrics, codesInResponse)]),
    errorInterceptor(spec.log, undefined, (e) => refusalKindOf(e) !== undefined),
    ...(drain === undefined ? [] : [drain.interceptor()]),
    refusalInterceptor(spec.refusals),
    authInterceptor(spec.tokens, spec.policy, (error, participantId) => spec.refusals.count(error, participantId)),
    callerOnSpan,
    requestIdInterceptor(spec.services),
    contractInterceptor(spec.services),
    admissionInterceptor(spec.services, { maxInFlight: r.maxInFlight, maxStreams: r.maxStreams, retryHintMs: r.retryHintMs }, gauge),
    idempotencyInterceptor({
      replies: spec.replies,
      services: spec.services,
      notifier: new Notifier(),
      maxWaitMs: r.duplicateWaitMs,
      retryHintMs: r.retryHintMs,
      seen: (method, outcome) => {
        if (outcome === "mismatch") metrics?.mismatches.inc({ grpc_method: method });
        else {
          metrics?.replays.inc({ grpc_method: method, outcome });
          recordReplay(method, outcome);
        }
      },
    }),
  ];
}

/** The authenticated caller's participant on the call's span. */
const callerOnSpan: Interceptor = (next) => (req) => {
  const caller = req.contextValues.get(callerKey);
  if (caller !== undefined && caller.participantId !== "") annotateCall({ participantId: caller.participantId });
  return next(req);
};

export function meshRoutes(spec: ServerSpec, health: HealthState): (router: ConnectRouter) => void {
  return (router) => {
    // Every registration, the role's and ours, gets its method's read limit.
    const limited = limitedRouter(router);
    spec.routes(limited);
    registerHealth(limited, health);
    registerReflection(limited, spec.services);
  };
}

/**
 * What one HTTP/2 connection may hold: its streams at once (past it the
 * client gets REFUSED_STREAM, which gRPC clients retry), the headers of one
 * call, and the memory nghttp2 buffers for it (frames, header tables) before
 * it refuses new streams (ENHANCE_YOUR_CALM).
 */
function sessionLimits(s: MeshConfig["streams"]): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: s.maxStreamsPerConnection, maxHeaderListSize: s.maxHeaderListBytes },
    maxHeaderListPairs: 128,
    maxSessionMemory: 32,
  };
}

/** A role wired to its store, ready to serve: tests can also serve it in memory. */
export interface BuiltRole {
  spec: ServerSpec;
  /**
   * Stops the role's background work at a safe point (a block stored, never
   * half of one) and releases its leases, leaving the store open for the
   * calls still in progress. Work started after it does not run.
   */
  stopWork(): Promise<void>;
  /** Stops the background work and closes the role (its store, its instance record). */
  stop(): Promise<void>;
}

export interface RunningServer {
  port: number;
  health: HealthState;
  /** Open streams now, in all and per caller (for metrics). */
  streams(): StreamGateGauge;
  /** The grace period close() gives calls in progress. */
  graceMs: number;
  /** Shuts down gracefully (see shutdown.ts). */
  close(): Promise<void>;
}

/** Serves a built role on the address (over TLS when `tls` is given); close() shuts it down gracefully. */
export async function serve(role: BuiltRole, address: Address, tls?: TlsMaterial): Promise<RunningServer> {
  const graceMs = role.spec.serverRole.shutdownGraceMs;
  const drain = new CallDrain(role.spec.serverRole.retryHintMs);
  const server = await listen(role.spec, address, tls, drain);
  await role.spec
    .listening?.(address.host, server.port)
    .catch((err: unknown) => role.spec.log.warn({ err }, "could not record where this instance listens"));
  const { health } = server;
  const readiness = roleReadiness(health, role.spec);
  readiness.start();
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    health,
    streams: server.streams,
    graceMs,
    close() {
      closing ??= shutDown({
        log: role.spec.log,
        health,
        readiness,
        drain,
        graceMs,
        stopListening: server.stopListening,
        stopWork: () => role.stopWork(),
        async close() {
          await server.close();
          await role.stop();
        },
      });
      return closing;
    },
  };
}

interface Listening {
  port: number;
  health: HealthState;
  streams(): StreamGateGauge;
  /** Stops accepting connections and sends GOAWAY on idle ones; those with calls open stay. */
  stopListening(): void;
  /** Closes every connection (GOAWAY, then destroyed after a while) and the listener. */
  close(): Promise<void>;
}

type NodeHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/**
 * While draining, a connection that brings a new call (a health check aside)
 * gets GOAWAY once that call is answered: the refusal tells the client to try
 * again, and its retry opens a new connection, which reaches another instance.
 * Calls still running on the connection finish on it.
 */
function goAwayWhileDraining(handler: NodeHandler, drain: CallDrain): NodeHandler {
  return (req, res) => {
    if (drain.isDraining && !req.url.startsWith(`/${Health.typeName}/`)) res.once("finish", () => req.stream.session?.close());
    handler(req, res);
  };
}

/**
 * Listens on the address (port 0 picks a free port) over HTTP/2 cleartext, or
 * over TLS (h2 by ALPN) when `tls` is given: with a CA in it, only clients
 * presenting a certificate signed by that CA get through the handshake.
 */
async function listen(spec: ServerSpec, address: Address, tls: TlsMaterial | undefined, drain: CallDrain): Promise<Listening> {
  const health = new HealthState();
  warmContractRules(spec.services);
  const gate = new StreamGate({
    services: spec.services,
    tokens: spec.tokens,
    streams: spec.streams,
    maxStreams: spec.serverRole.maxStreams,
    retryHintMs: spec.serverRole.retryHintMs,
    refusals: spec.refusals,
  });
  const handler = gate.wrap(goAwayWhileDraining(createMeshHandler(spec, health, drain), drain));
  const options = sessionLimits(spec.streams);
  const server: http2.Http2Server | http2.Http2SecureServer =
    tls === undefined ? http2.createServer(options, handler) : http2.createSecureServer({ ...serverTlsOptions(tls), ...options }, handler);
  if (tls !== undefined && isMutual(tls)) {
    // Who connects, by certificate: the bearer token still says which role a call is from.
    server.on("secureConnection", (socket: TLSSocket) =>
      spec.log.info({ peer: peerCommonName(socket), remote: socket.remoteAddress }, "tls peer connected"),
    );
  }
  if (tls !== undefined) {
    server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
      // A client certificate that fails verification only shows in authorizationError (a code such as UNABLE_TO_VERIFY_LEAF_SIGNATURE).
      const refused: unknown = socket.authorizationError;
      const reason = refused === null || refused === undefined ? err.message.trim() : `client certificate refused: ${String(refused)}`;
      spec.log.warn({ remote: socket.remoteAddress, reason }, "tls handshake failed");
    });
  }
  /** Every open connection, with the streams (calls) open on it. */
  const sessions = new Map<http2.Http2Session, number>();
  // Small gRPC frames must not wait for Nagle's algorithm.
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  server.on("secureConnection", (socket: Socket) => socket.setNoDelay(true));
  server.on("session", (s) => {
    sessions.set(s, 0);
    s.once("close", () => sessions.delete(s));
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    const s = stream.session;
    if (s === undefined || !sessions.has(s)) return;
    sessions.set(s, (sessions.get(s) ?? 0) + 1);
    stream.once("close", () => {
      const open = sessions.get(s);
      if (open !== undefined) sessions.set(s, open - 1);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const stopListening = (): void => {
    closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    // GOAWAY to idle connections: their clients' next call connects again, to another instance.
    for (const [session, streams] of sessions) if (streams === 0) session.close();
  };
  // Always logged, whatever the level: supervisors and tests wait for this line to learn the port.
  spec.log
    .child({}, { level: "info" })
    .info({ host: address.host, port, tls: tls === undefined ? "off" : isMutual(tls) ? "mutual" : "server" }, "listening");
  return {
    port,
    health,
    streams: () => gate.gauge(),
    stopListening,
    async close() {
      health.shutdown();
      stopListening();
      // Open streams (code streams, watches) would hold close() forever.
      for (const s of sessions.keys()) s.close();
      const timer = setTimeout(() => {
        for (const s of sessions.keys()) s.destroy();
      }, 2_000);
      await closed;
      clearTimeout(timer);
    },
  };
}
