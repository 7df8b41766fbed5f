import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { MeshMetrics } from "./mesh-metrics.js";

const TYPES = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
} as const;

/**
 * RPC metrics on the server, in the names of grpc-ecosystem's Prometheus
 * interceptors: started, handled by code, and handling time; the codes sent
 * on code streams are counted as delivered.
 */
/** `codesIn`: the codes a streamed message carries (blocks may travel encoded), for the delivered-codes count. */
export function metricsInterceptor(m: MeshMetrics, codesIn: (message: unknown) => number): Interceptor {
  return (next) => async (req) => {
    const labels = { grpc_service: req.service.typeName, grpc_method: req.method.name, grpc_type: TYPES[req.method.methodKind] };
    m.rpcStarted.inc(labels);
    const stop = m.rpcSeconds.startTimer(labels);
    let done = false;
    const handled = (err?: unknown): void => {
      if (done) return;
      done = true;
      stop();
      // Go's names of the codes, as grpc-ecosystem's interceptors label them: OK, InvalidArgument, ...
      m.rpcHandled.inc({ ...labels, grpc_code: err === undefined ? "OK" : Code[ConnectError.from(err).code] });
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        handled();
        return res;
      }
      // The caller went away: nobody may read the stream to its end.
      req.signal.addEventListener("abort", () => handled(new ConnectError("the caller cancelled the stream", Code.Canceled)), {
        once: true,
      });
      return { ...res, message: counted(res.message, m, handled, codesIn) };
    } catch (err) {
      handled(err);
      throw err;
    }
  };
}

async function* counted<T>(
  messages: AsyncIterable<T>,
  m: MeshMetrics,
  handled: (err?: unknown) => void,
  codesIn: (message: unknown) => number,
): AsyncIterable<T> {
  let outcome: unknown = new ConnectError("stream cancelled", Code.Canceled);
  try {
    for await (const message of messages) {
      const codes = codesIn(message);
      if (codes > 0) m.codesDelivered.inc(codes);
      yield message;
    }
    outcome = undefined;
  } catch (err) {
    outcome = err;
    throw err;
  } finally {
    handled(outcome);
  }
}
