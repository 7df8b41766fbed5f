/**
 * The request rules of an order-carrying call (the Emission server's step 4:
 * the contract's buf.validate rules and the hand-written per-serial check),
 * run by every role at the step where the request first reaches it: OMS at
 * step 2 ("checks the request and sends the order on"), the Registrar at
 * step 3, the Emission server at step 4. A malformed request is refused by
 * the first role it reaches and never travels down the chain.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { OrderSpec } from "../../gen/emission/common/v1/order_pb.js";
import { checkOrderRequest } from "../../domain/order-validation.js";
import { RequestInvalidError } from "../../domain/domain-errors.js";
import type { Journal } from "./journal.js";

export interface OrderRequestCheck {
  journal: Journal;
  /** The checking step: "2" (OMS), "3" (Registrar), "4" (Emission server); N.1 journals, N.2 replies. */
  step: string;
  requestId: string;
  participantId: string;
}

/** Returns the request's order when the request is well formed; else journals step N.1 and throws (N.2). */
export async function requireWellFormedOrder<Desc extends DescMessage>(
  c: OrderRequestCheck,
  schema: Desc,
  request: MessageShape<Desc> & { order?: OrderSpec | undefined },
): Promise<OrderSpec> {
  const violations = checkOrderRequest(schema, request);
  if (violations.length === 0 && request.order !== undefined) return request.order;
  const error = new RequestInvalidError(c.step, violations);
  await c.journal.record({
    step: `${c.step}.1`,
    orderId: request.order?.productionOrderId ?? "",
    requestId: c.requestId,
    participantId: c.participantId,
    error,
  });
  throw error; // N.2
}
