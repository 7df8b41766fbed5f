import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { BadRequestSchema, PreconditionFailureSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorInfo } from "./error-info.js";
import { pushback, retryInfo } from "./retry-hint.js";
import {
  BacklogShareError,
  OrderNotFoundError,
  OrderRejectedError,
  OrderStateError,
  RequestInvalidError,
  type FieldViolation,
} from "../../domain/domain-errors.js";

/**
 * The one place where domain errors become gRPC statuses. A ConnectError from
 * a role below passes through unchanged, so its code and details reach the
 * caller above with their original cause.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof RequestInvalidError) {
    return new ConnectError(
      err.message,
      Code.InvalidArgument,
      undefined,
      [badRequest(err.violations), errorInfo("REQUEST_INVALID", { step: err.step })],
      err,
    );
  }
  if (err instanceof OrderRejectedError) {
    return new ConnectError(
      err.message,
      Code.FailedPrecondition,
      undefined,
      [
        badRequest(err.violations),
        {
          desc: PreconditionFailureSchema,
          value: create(PreconditionFailureSchema, {
            violations: err.violations.map((v) => ({ type: "ORDER_RULE", subject: v.field, description: v.description })),
          }),
        },
        errorInfo("ORDER_REJECTED", { step: err.step }),
      ],
      err,
    );
  }
  if (err instanceof BacklogShareError) {
    const { held, backlog, sharePercent, retryAfterMs } = err.share;
    return new ConnectError(
      err.message,
      Code.FailedPrecondition,
      pushback(retryAfterMs),
      [
        {
          desc: PreconditionFailureSchema,
          value: create(PreconditionFailureSchema, {
            violations: [{ type: "BACKLOG_SHARE", subject: `participants/${err.participantId}`, description: err.message }],
          }),
        },
        retryInfo(retryAfterMs),
        errorInfo("BACKLOG_SHARE_EXCEEDED", {
          step: err.step,
          metadata: { heldCodes: String(held), backlogCodes: String(backlog), sharePercent: String(sharePercent) },
        }),
      ],
      err,
    );
  }
  if (err instanceof OrderNotFoundError) {
    return new ConnectError(
      err.message,
      Code.NotFound,
      undefined,
      [errorInfo("ORDER_NOT_FOUND", { metadata: { orderId: err.orderId.slice(0, 128) } })],
      err,
    );
  }
  if (err instanceof OrderStateError) {
    return new ConnectError(
      err.message,
      Code.FailedPrecondition,
      undefined,
      [errorInfo("ORDER_STATE", { metadata: { state: err.state } })],
      err,
    );
  }
  return ConnectError.from(err, Code.Internal);
}

function badRequest(violations: readonly FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) }),
  };
}

/** Field violations carried by an error's google.rpc.BadRequest detail. */
export function fieldViolationsOf(err: ConnectError): FieldViolation[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}
