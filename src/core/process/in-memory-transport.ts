import { createRouterTransport, type Transport } from "@connectrpc/connect";
import { meshInterceptors, meshRoutes, type ServerSpec } from "./grpc-server.js";
import { DEFAULT_MESSAGE_BYTES, HealthState } from "../rpc/index.js";

/**
 * A role's full handler stack (routes, health, reflection, interceptors)
 * served through connect's in-memory router transport: service tests call
 * exactly what a real server would run, without a socket.
 */
export function inMemoryTransport(spec: ServerSpec, headers: Record<string, string> = {}, health = new HealthState()): Transport {
  return createRouterTransport(meshRoutes(spec, health), {
    router: { interceptors: meshInterceptors(spec), readMaxBytes: DEFAULT_MESSAGE_BYTES },
    transport: {
      interceptors: [
        (next) => (req) => {
          for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
          return next(req);
        },
      ],
    },
  });
}
