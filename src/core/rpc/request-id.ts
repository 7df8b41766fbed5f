import type { DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { createHash, randomUUID } from "node:crypto";
import { meshError } from "./error-info.js";

export const REQUEST_ID_HEADER = "x-request-id";

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export const requestIdKey = createContextKey<string>("", { description: "x-request-id of the call" });

export function requestIdOf(ctx: HandlerContext): string {
  return ctx.values.get(requestIdKey);
}

/**
 * An x-request-id as a log line or a journal entry may show it: a
 * well-formed one as it is (at most 128 safe characters), anything else
 * only by its length, so a caller's header is never kept whole or raw.
 */
export function loggableRequestId(value: string | null): string {
  if (value === null) return "";
  return REQUEST_ID.test(value) ? value : `(malformed, ${value.length} chars)`;
}

/** A fresh request id for a call that starts a new business operation. */
export function newRequestId(): string {
  return randomUUID();
}

/**
 * The request id a forwarding role sends downstream: the same upstream id
 * always gives the same downstream id, so a retransmission that reaches a
 * role after it already forwarded is recognised at every hop.
 */
export function deriveRequestId(upstream: string, hop: string): string {
  const digest = createHash("sha256").update(`${hop}\u0000${upstream}`).digest("base64url").slice(0, 32);
  return `${hop}.${digest}`;
}

/**
 * Every state-changing call of the mesh's own services (any method not marked
 * NO_SIDE_EFFECTS in its contract) must carry a well-formed x-request-id.
 * Health and reflection are infrastructure and need none.
 */
export function requestIdInterceptor(services: readonly DescService[]): Interceptor {
  const own = new Set(services.map((s) => s.typeName));
  return (next) => async (req) => {
    // Health and reflection ignore the header: grpcurl's -H sends it to them too.
    if (!own.has(req.service.typeName)) return next(req);
    const id = req.header.get(REQUEST_ID_HEADER);
    const changesState = req.method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    if (id === null) {
      if (changesState) {
        throw meshError(
          `${req.method.name} changes state and needs an ${REQUEST_ID_HEADER} header`,
          Code.InvalidArgument,
          "REQUEST_ID_MISSING",
        );
      }
      return next(req);
    }
    if (!REQUEST_ID.test(id)) {
      throw meshError(`${REQUEST_ID_HEADER} must be 8-128 characters of A-Z a-z 0-9 . _ : -`, Code.InvalidArgument, "REQUEST_ID_MALFORMED");
    }
    req.contextValues.set(requestIdKey, id);
    return next(req);
  };
}
