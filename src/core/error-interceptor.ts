import { ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { toConnectError } from "./domain-errors.js";
import { withErrorInfo } from "./error-info.js";
import type { Logger } from "./logger.js";
import { grpcCodeName } from "./grpc-code-name.js";
import { REQUEST_ID_HEADER } from "./request-id.js";

/**
 * The RPC boundary: whatever a handler throws, unary or mid-stream, leaves as
 * a ConnectError with the code toConnectError chose, and is logged once.
 */
export function errorInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const fail = (err: unknown): never => {
      const e = withErrorInfo(toConnectError(err));
      const level = e.cause instanceof ConnectError || e.code >= 12 ? "error" : "info";
      log[level]({ method: `${req.service.typeName}/${req.method.name}`, requestId: req.header.get(REQUEST_ID_HEADER) ?? "", code: grpcCodeName(e.code) }, e.rawMessage);
      throw e;
    };
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: guard(res.message, fail) } satisfies StreamResponse;
    } catch (err) {
      return fail(err);
    }
  };
}

async function* guard<T>(messages: AsyncIterable<T>, fail: (err: unknown) => never): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    fail(err);
  }
}
