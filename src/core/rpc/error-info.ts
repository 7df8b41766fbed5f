import { create } from "@bufbuild/protobuf";
import { ConnectError, type Code } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { grpcCodeName } from "./grpc-code-name.js";

/** Domain of the google.rpc.ErrorInfo details this mesh attaches. */
export const ERROR_DOMAIN = "emission-mesh";

/**
 * Why a call failed, as google.rpc.ErrorInfo.reason: stable UPPER_SNAKE_CASE
 * names a client can branch on (the README lists them). An error no site
 * named gets its gRPC code's name.
 */
export type ErrorReason =
  | "REQUEST_INVALID"
  | "ORDER_REJECTED"
  | "ORDER_NOT_FOUND"
  | "ORDER_STATE"
  | "BLOCK_NOT_FOUND"
  | "BLOCK_NOT_SENT"
  | "TOKEN_MISSING"
  | "TOKEN_UNKNOWN"
  | "ROLE_NOT_ALLOWED"
  | "REQUEST_ID_MISSING"
  | "REQUEST_ID_MALFORMED"
  | "REQUEST_ID_REUSED"
  | "REQUEST_IN_PROGRESS"
  | "OVERLOADED"
  | "STREAMS_EXHAUSTED"
  | "CALLER_QUOTA"
  | "MESSAGE_TOO_LARGE"
  | "ROLE_BELOW_UNAVAILABLE"
  | "REPLY_UNUSABLE"
  | "SERVICE_UNKNOWN"
  | "SHUTTING_DOWN";

export interface ErrorInfoOptions {
  /** The seed step that failed, spelled as in the journal ("4.2", "9.1", "auth"). */
  step?: string;
  metadata?: Record<string, string>;
}

/** The google.rpc.ErrorInfo detail of a mesh error. */
export function errorInfo(reason: ErrorReason | string, o: ErrorInfoOptions = {}) {
  const metadata: Record<string, string> = { ...o.metadata };
  if (o.step !== undefined && o.step !== "") metadata.step = o.step;
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) };
}

/** A ConnectError whose google.rpc.Status carries an ErrorInfo with the reason (and step). */
export function meshError(
  message: string,
  code: Code,
  reason: ErrorReason,
  o: ErrorInfoOptions & { trailers?: Record<string, string> } = {},
): ConnectError {
  return new ConnectError(message, code, o.trailers, [errorInfo(reason, o)]);
}

/** True when the error already says why in an ErrorInfo (ours or a role's below). */
export function hasErrorInfo(err: ConnectError): boolean {
  return err.details.some((d) => ("desc" in d ? d.desc.typeName : d.type) === ErrorInfoSchema.typeName);
}

/**
 * Every error leaving a role carries an ErrorInfo, so a client in any
 * language branches on one field: an error no site gave a reason gets its
 * code's name ("INTERNAL", "DEADLINE_EXCEEDED").
 */
export function withErrorInfo(err: ConnectError): ConnectError {
  if (!hasErrorInfo(err)) err.details.push(errorInfo(grpcCodeName(err.code)));
  return err;
}

/** The step (e.g. "4.2") named by an error's ErrorInfo detail, if any. */
export function stepOf(err: ConnectError): string | undefined {
  for (const info of err.findDetails(ErrorInfoSchema)) {
    if (info.domain === ERROR_DOMAIN && info.metadata.step !== undefined) return info.metadata.step;
  }
  return undefined;
}

/** The reason of an error's ErrorInfo detail, if any. */
export function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema).find((i) => i.domain === ERROR_DOMAIN)?.reason;
}
