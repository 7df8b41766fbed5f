import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { clip, LogBudget, type Logger, MAX_MESSAGE_CHARS } from "../runtime/index.js";
import { callerGoneError } from "./caller-gone.js";
import { toConnectError } from "./to-connect-error.js";
import { reasonOf, withErrorInfo } from "./error-info.js";
import { grpcCodeName } from "./grpc-code-name.js";
import { loggableRequestId, REQUEST_ID_HEADER } from "./request-id.js";

type Level = "error" | "warn" | "info";

/**
 * The RPC boundary: whatever a handler throws, unary or mid-stream, leaves as
 * a ConnectError with the code toConnectError chose, and is logged once, at
 * a level that says whose fault it is (see levelOf). Errors `counted` claims
 * (refusals a caller causes at will, tallied and journaled in aggregate) get
 * no line of their own.
 */
export function errorInterceptor(log: Logger, budget = new LogBudget(), counted: (e: ConnectError) => boolean = () => false): Interceptor {
  return (next) => async (req) => {
    const started = Date.now();
    const fail = (err: unknown): never => {
      const e = withErrorInfo(toConnectError(err));
      // The caller is gone: nobody reads `e`; the line says why the call ended.
      const shown = req.signal.aborted ? callerGoneError(e, req.header, Date.now() - started) : e;
      const line = {
        method: `${req.service.typeName}/${req.method.name}`,
        requestId: loggableRequestId(req.header.get(REQUEST_ID_HEADER)),
        code: grpcCodeName(shown.code),
      };
      // Counted refusals are journaled in aggregate; one line each only when debugging.
      if (counted(e)) {
        log.debug(line, clip(e.rawMessage, MAX_MESSAGE_CHARS));
        throw e;
      }
      const { level, limited } = levelOf(e, req.signal.aborted);
      // A client can cause refusals and resets at will: those lines are rate-limited per kind.
      const dropped = limited ? budget.take(`${level}:${shown.code}`) : 0;
      if (dropped === undefined) throw e;
      log[level]({ ...line, ...(dropped > 0 ? { similarLinesLeftOut: dropped } : {}) }, clip(shown.rawMessage, MAX_MESSAGE_CHARS));
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

/**
 * error: a fault of the mesh (an internal error, a role below failing);
 * warn, rate-limited: a caller refused for its token or role;
 * info, rate-limited: the caller went away (cancel, reset stream: "Premature close"),
 * the server is shutting down (SHUTTING_DOWN), or the caller asked for a method that
 * is not here or sent no request message (UNIMPLEMENTED);
 * info: the caller's own mistake (a malformed request, an unknown order).
 */
export function levelOf(e: ConnectError, callerGone: boolean): { level: Level; limited: boolean } {
  if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) return { level: "warn", limited: true };
  if (callerGone || e.code === Code.Canceled) return { level: "info", limited: true };
  // Refusals and streams ended by a server shutting down are expected, not faults.
  if (reasonOf(e) === "SHUTTING_DOWN") return { level: "info", limited: true };
  // A method this server lacks, or a call that ended before its request message (a client giving up at
  // once): the caller's doing, logged as an error it read as a fault of the mesh.
  if (e.code === Code.Unimplemented && !(e.cause instanceof ConnectError)) return { level: "info", limited: true };
  return { level: e.cause instanceof ConnectError || e.code >= 12 ? "error" : "info", limited: false };
}

async function* guard<T>(messages: AsyncIterable<T>, fail: (err: unknown) => never): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    fail(err);
  }
}
