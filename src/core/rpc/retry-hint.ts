import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { type Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorInfo, type ErrorReason } from "./error-info.js";

/** The trailer gRPC clients read as the server's retry pushback. */
export const PUSHBACK_TRAILER = "grpc-retry-pushback-ms";

/**
 * A transient error telling the client when to try again (IOTP's SystemBusy
 * with MinRetrySecs): the grpc-retry-pushback-ms trailer for gRPC clients and
 * a google.rpc.RetryInfo detail for everyone else.
 */
export function transientError(message: string, code: Code, reason: ErrorReason, retryAfterMs: number): ConnectError {
  const ms = Math.max(1, Math.round(retryAfterMs));
  return new ConnectError(message, code, pushback(ms), [retryInfo(ms), errorInfo(reason)]);
}

/** The google.rpc.RetryInfo detail asking for `ms` before the next try. */
export function retryInfo(ms: number) {
  return { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(Math.max(1, Math.round(ms))) }) };
}

/** The grpc-retry-pushback-ms trailer asking for `ms`. */
export function pushback(ms: number): Record<string, string> {
  return { [PUSHBACK_TRAILER]: String(Math.max(1, Math.round(ms))) };
}

/** The delay a server asked for in an error, if any. */
export function retryHintOf(err: ConnectError): number | undefined {
  const trailer = Number(err.metadata.get(PUSHBACK_TRAILER) ?? Number.NaN);
  if (Number.isFinite(trailer) && trailer >= 0) return trailer;
  const info = err.findDetails(RetryInfoSchema)[0];
  return info?.retryDelay === undefined ? undefined : durationMs(info.retryDelay);
}
