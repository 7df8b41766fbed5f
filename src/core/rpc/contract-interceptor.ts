/**
 * Every request of the mesh's own services is held to its contract's
 * buf.validate rules (string lengths, required ids, page sizes) where it
 * enters, before the handler sees it: INVALID_ARGUMENT with a BadRequest.
 * Order-carrying requests are left to their role's journaled check (steps
 * 2, 3 and 4: order-request-check.ts), which also runs the per-serial rules.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { requireContract } from "./contract-check.js";
import { ORDER_METHODS } from "./message-limits.js";

export function contractInterceptor(services: readonly DescService[]): Interceptor {
  const own = new Set(services.map((s) => s.typeName));
  return (next) => async (req) => {
    if (!own.has(req.service.typeName) || ORDER_METHODS.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
    const check = (message: unknown): void =>
      requireContract(req.method.input, message as never, { messageField: wholeMessageField(req.method.input) });
    if (!req.stream) {
      check(req.message);
      return next(req);
    }
    return next({ ...req, message: checked(req.message, check) });
  };
}

/**
 * A rule on the request as a whole (CancelOrder's "exactly one of order_id
 * and create_request_id") is reported on its first field, so a
 * google.rpc.BadRequest always names a field.
 */
function wholeMessageField(input: DescMessage): string {
  return input.fields[0]?.name ?? "";
}

async function* checked<T>(messages: AsyncIterable<T>, check: (m: T) => void): AsyncIterable<T> {
  for await (const m of messages) {
    check(m);
    yield m;
  }
}
