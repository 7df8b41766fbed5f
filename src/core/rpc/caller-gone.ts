import { Code, ConnectError } from "@connectrpc/connect";

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** The deadline a call was made with, in ms: gRPC's `grpc-timeout` or Connect's `connect-timeout-ms`; undefined for none. */
export function callTimeoutMs(header: Headers): number | undefined {
  const grpc = /^(\d{1,8})([HMSmun])$/.exec(header.get("grpc-timeout") ?? "");
  if (grpc !== null) return Number(grpc[1]) * (GRPC_UNITS[grpc[2] ?? ""] ?? 1);
  const connect = /^\d{1,10}$/.exec(header.get("connect-timeout-ms") ?? "");
  return connect === null ? undefined : Number(connect[0]);
}

/** A reset this close to the deadline is the deadline: the client's timer and ours do not fire at the same instant. */
const DEADLINE_SLACK_MS = 50;

/**
 * What ended a call whose caller went away, for its log line. A client that
 * gives up resets the stream, and connect-node resets with INTERNAL_ERROR
 * for any reason but a cancel, so the handler sees "INTERNAL": that is the
 * caller's deadline when it had one that has passed, else a cancel. Never
 * an internal error of this server.
 */
export function callerGoneError(e: ConnectError, header: Headers, elapsedMs: number): ConnectError {
  if (e.code === Code.Canceled || e.code === Code.DeadlineExceeded) return e;
  const timeout = callTimeoutMs(header);
  if (timeout !== undefined && elapsedMs + DEADLINE_SLACK_MS >= timeout) {
    return new ConnectError(
      `the caller's deadline of ${timeout} ms passed (${e.rawMessage})`,
      Code.DeadlineExceeded,
      undefined,
      undefined,
      e,
    );
  }
  return new ConnectError(`the caller went away (${e.rawMessage})`, Code.Canceled, undefined, undefined, e);
}
