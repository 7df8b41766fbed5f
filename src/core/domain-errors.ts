import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
} from "../gen/google/rpc/error_details_pb.js";

/** A wrong field, as google.rpc.BadRequest reports it. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Domain of the google.rpc.ErrorInfo details this mesh attaches. */
export const ERROR_DOMAIN = "emission-mesh";

/** The request is malformed (step 4): INVALID_ARGUMENT with field violations. */
export class RequestInvalidError extends Error {
  constructor(
    readonly step: string,
    readonly violations: readonly FieldViolation[],
  ) {
    super(`the request is malformed: ${summarize(violations)}`);
    this.name = "RequestInvalidError";
  }
}

/** The order breaks a business rule (step 5): FAILED_PRECONDITION. */
export class OrderRejectedError extends Error {
  constructor(
    readonly step: string,
    readonly violations: readonly FieldViolation[],
  ) {
    super(`the order breaks the rules: ${summarize(violations)}`);
    this.name = "OrderRejectedError";
  }
}

/** No such order (or not one the caller may see): NOT_FOUND. */
export class OrderNotFoundError extends Error {
  constructor(readonly orderId: string) {
    super(`order ${JSON.stringify(orderId)} not found`);
    this.name = "OrderNotFoundError";
  }
}

/** The order exists but is in a state that forbids the call: FAILED_PRECONDITION. */
export class OrderStateError extends Error {
  constructor(
    readonly orderId: string,
    readonly state: string,
    what: string,
  ) {
    super(`order ${orderId} is ${state}: ${what}`);
    this.name = "OrderStateError";
  }
}

function summarize(violations: readonly FieldViolation[]): string {
  const shown = violations.slice(0, 3).map((v) => `${v.field}: ${v.description}`);
  const more = violations.length > 3 ? ` (and ${violations.length - 3} more)` : "";
  return shown.join("; ") + more;
}

/**
 * The one place where domain errors become gRPC statuses. A ConnectError from
 * a role below passes through unchanged, so its code and details reach the
 * caller above with their original cause.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof RequestInvalidError) {
    return new ConnectError(err.message, Code.InvalidArgument, undefined, [
      badRequest(err.violations),
      errorInfo("REQUEST_INVALID", err.step),
    ], err);
  }
  if (err instanceof OrderRejectedError) {
    return new ConnectError(err.message, Code.FailedPrecondition, undefined, [
      badRequest(err.violations),
      {
        desc: PreconditionFailureSchema,
        value: create(PreconditionFailureSchema, {
          violations: err.violations.map((v) => ({ type: "ORDER_RULE", subject: v.field, description: v.description })),
        }),
      },
      errorInfo("ORDER_REJECTED", err.step),
    ], err);
  }
  if (err instanceof OrderNotFoundError) return new ConnectError(err.message, Code.NotFound, undefined, undefined, err);
  if (err instanceof OrderStateError) {
    return new ConnectError(err.message, Code.FailedPrecondition, undefined, [errorInfo("ORDER_STATE", "", { state: err.state })], err);
  }
  return ConnectError.from(err, Code.Internal);
}

function badRequest(violations: readonly FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) }),
  };
}

function errorInfo(reason: string, step: string, extra: Record<string, string> = {}) {
  const metadata: Record<string, string> = { ...extra };
  if (step !== "") metadata["step"] = step;
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) };
}

/** Field violations carried by an error's google.rpc.BadRequest detail. */
export function fieldViolationsOf(err: ConnectError): FieldViolation[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}

/** The step (e.g. "4.2") named by an error's ErrorInfo detail, if any. */
export function stepOf(err: ConnectError): string | undefined {
  for (const info of err.findDetails(ErrorInfoSchema)) {
    if (info.domain === ERROR_DOMAIN && info.metadata["step"] !== undefined) return info.metadata["step"];
  }
  return undefined;
}
