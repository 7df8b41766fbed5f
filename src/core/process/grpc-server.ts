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
  type ReplyStore,
} from "../iotp/index.js";
import type { Address, MeshConfig } from "../config.js";
import { warmContractRules } from "../../domain/contract-rules.js";
import {
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
import { type Logger, Notifier } from "../runtime/index.js";
import { annotateCall, type MeshMetrics, metricsInterceptor, recordReplay, serverTraceInterceptor } from "../telemetry/index.js";

export interface ServerSpec {
  log: Logger;
  /** The role's own services, listed by reflection. */
  services: DescService[];
  policy: AccessPolicy;
  tokens: ReadonlyMap<string, Caller>;
  /** Stored replies of the role's state-changing calls. */
  replies: ReplyStore;
  /** Where refused calls are journaled. */
  journal: Journal;
  serverRole: MeshConfig["serverRole"];
  /** The role's metrics: RPCs, admission, replays (absent: counted nowhere). */
  metrics?: MeshMetrics;
  routes(router: ConnectRouter): void;
}

/**
 * The request handler every server role uses: its routes plus health and
 * reflection, behind the shared interceptors (errors, auth, request ids),
 * with gRPC responses made wire-conformant (Trailers-Only errors, spec
 * grpc-message encoding).
 */
export function createMeshHandler(spec: ServerSpec, health: HealthState) {
  return grpcWire(
    connectNodeAdapter({
      // Every route has its own limit (limitedRouter); this bounds anything else.
      readMaxBytes: DEFAULT_MESSAGE_BYTES,
      interceptors: meshInterceptors(spec),
      routes: meshRoutes(spec, health),
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
 * authenticated before anything else; a request breaking its contract is
 * refused before it is stored or worked on; overload is refused before any work;
 * duplicates are answered from stored replies.
 */
export function meshInterceptors(
  spec: ServerSpec,
  gauge: AdmissionGauge = spec.metrics?.admission ?? { inFlight: 0, streams: 0, refused: 0 },
): Interceptor[] {
  const { serverRole: r, metrics } = spec;
  return [
    serverTraceInterceptor(),
    // RPCs are measured only when the metrics are served (METRICS_ADDR).
    ...(metrics?.servedAt === undefined ? [] : [metricsInterceptor(metrics)]),
    errorInterceptor(spec.log),
    authInterceptor(spec.tokens, spec.policy, (f) =>
      spec.journal.record({ step: "auth", orderId: "", requestId: f.requestId, participantId: f.participantId, error: f.error }),
    ),
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

/** A role wired to its store, ready to serve: tests can also serve it in memory. */
export interface BuiltRole {
  spec: ServerSpec;
  /** Stops the role's background work (after the server stopped taking calls). */
  stop(): Promise<void>;
}

export interface RunningServer {
  port: number;
  health: HealthState;
  close(): Promise<void>;
}

/** Serves a built role on the address (over TLS when `tls` is given), and stops the role when the server closes. */
export async function serve(role: BuiltRole, address: Address, tls?: TlsMaterial): Promise<RunningServer> {
  const server = await listen(role.spec, address, tls);
  return {
    ...server,
    async close() {
      await server.close();
      await role.stop();
    },
  };
}

/**
 * Listens on the address (port 0 picks a free port) over HTTP/2 cleartext, or
 * over TLS (h2 by ALPN) when `tls` is given: with a CA in it, only clients
 * presenting a certificate signed by that CA get through the handshake.
 */
export async function listen(spec: ServerSpec, address: Address, tls?: TlsMaterial): Promise<RunningServer> {
  const health = new HealthState();
  warmContractRules(spec.services);
  const handler = createMeshHandler(spec, health);
  const server: http2.Http2Server | http2.Http2SecureServer =
    tls === undefined ? http2.createServer({}, handler) : http2.createSecureServer(serverTlsOptions(tls), handler);
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
  const sessions = new Set<http2.ServerHttp2Session>();
  // Small gRPC frames must not wait for Nagle's algorithm.
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  server.on("secureConnection", (socket: Socket) => socket.setNoDelay(true));
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  for (const s of spec.services) health.set(s.typeName, "serving");
  health.set("", "serving");
  // Always logged, whatever the level: supervisors and tests wait for this line to learn the port.
  spec.log
    .child({}, { level: "info" })
    .info({ host: address.host, port, tls: tls === undefined ? "off" : isMutual(tls) ? "mutual" : "server" }, "listening");
  return {
    port,
    health,
    async close() {
      health.shutdown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open streams (code streams, watches) would hold close() forever.
      for (const s of sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
      }, 2_000);
      await closed;
      clearTimeout(timer);
    },
  };
}
