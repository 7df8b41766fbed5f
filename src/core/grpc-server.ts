import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { authInterceptor, type AccessPolicy, type Caller } from "./auth.js";
import type { Address } from "./config.js";
import { errorInterceptor } from "./error-interceptor.js";
import { HealthState, registerHealth } from "./health-service.js";
import { registerReflection } from "./reflection-service.js";
import type { Logger } from "./logger.js";
import { requestIdInterceptor } from "./request-id.js";

export interface ServerSpec {
  log: Logger;
  /** The role's own services, listed by reflection. */
  services: DescService[];
  policy: AccessPolicy;
  tokens: ReadonlyMap<string, Caller>;
  maxMessageBytes: number;
  routes(router: ConnectRouter): void;
}

/**
 * The request handler every server role uses: its routes plus health and
 * reflection, behind the shared interceptors (errors, auth, request ids).
 */
export function createMeshHandler(spec: ServerSpec, health: HealthState) {
  return connectNodeAdapter({
    readMaxBytes: spec.maxMessageBytes,
    interceptors: meshInterceptors(spec),
    routes: meshRoutes(spec, health),
    fallback: unimplemented,
  });
}

/**
 * Unknown methods get gRPC status UNIMPLEMENTED in trailers, not connect's
 * bare HTTP 404, which grpc-go clients (grpcurl) read as INTERNAL and which
 * breaks their reflection v1 → v1alpha fallback.
 */
export const unimplemented: NonNullable<ConnectNodeAdapterOptions["fallback"]> = (req, res) => {
  res.writeHead(200, { "content-type": "application/grpc" });
  res.addTrailers({ "grpc-status": "12", "grpc-message": encodeURIComponent(`unknown method ${req.url ?? ""}`) });
  res.end();
};

/** Outermost first: errors from the auth and request-id checks are logged too. */
export function meshInterceptors(spec: ServerSpec): Interceptor[] {
  return [errorInterceptor(spec.log), authInterceptor(spec.tokens, spec.policy), requestIdInterceptor(spec.services)];
}

export function meshRoutes(spec: ServerSpec, health: HealthState): (router: ConnectRouter) => void {
  return (router) => {
    spec.routes(router);
    registerHealth(router, health);
    registerReflection(router, spec.services);
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

/** Serves a built role on the address, and stops the role when the server closes. */
export async function serve(role: BuiltRole, address: Address): Promise<RunningServer> {
  const server = await listen(role.spec, address);
  return {
    ...server,
    async close() {
      await server.close();
      await role.stop();
    },
  };
}

/** Listens on the address (port 0 picks a free port) over HTTP/2 cleartext. */
export async function listen(spec: ServerSpec, address: Address): Promise<RunningServer> {
  const health = new HealthState();
  const server = http2.createServer({}, createMeshHandler(spec, health));
  const sessions = new Set<http2.ServerHttp2Session>();
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
  spec.log.child({}, { level: "info" }).info({ host: address.host, port }, "listening");
  return {
    port,
    health,
    async close() {
      health.shutdown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open streams (code streams, watches) would hold close() forever.
      for (const s of sessions) s.close();
      const timer = setTimeout(() => { for (const s of sessions) s.destroy(); }, 2_000);
      await closed;
      clearTimeout(timer);
    },
  };
}
