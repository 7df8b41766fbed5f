/**
 * A quick proof that an order-carrying request breaks none of the contract
 * rules step 4 reports (order-validation.ts), so that protovalidate need not
 * run on it. On a well-formed request, the usual case, protovalidate's pass
 * (CEL and RE2 over the order and every product) was about half of the CPU a
 * role's own code spends on a create, at each of the three roles. The answer
 * is only "surely none broken" or "not sure": for anything it is not sure of,
 * protovalidate runs as before and words the violations.
 *
 * Only the rules step 4 reports are proved here; the contract's business
 * limits (STEP_5_RULES: enum values, counts, quantity, serial source, unique
 * GTINs) are step 5's and its own check. The serials are checked by hand at
 * step 4 anyway. test/unit/quick-order-check.test.ts lists every rule of the
 * contract, so a rule added to proto/ fails it until it is proved here too,
 * and holds this check against protovalidate on thousands of requests.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { OrderSpecSchema, type OrderSpec, type Product } from "../gen/emission/common/v1/order_pb.js";
import { CreateEmissionOrderRequestSchema } from "../gen/emission/emitter/v1/emitter_pb.js";
import { CreateOrderRequestSchema } from "../gen/emission/oms/v1/oms_pb.js";
import { CreatePoolRequestSchema } from "../gen/emission/registrar/v1/registrar_pb.js";

/** Requests whose own rules are `participant_id` required, at most 64 characters, and `order` required. */
const WITH_PARTICIPANT: ReadonlySet<string> = new Set([CreatePoolRequestSchema.typeName, CreateEmissionOrderRequestSchema.typeName]);
/** Requests whose only own rule is `order` required (the order itself checked directly included). */
const ORDER_ONLY: ReadonlySet<string> = new Set([CreateOrderRequestSchema.typeName, OrderSpecSchema.typeName]);

/** gtin: required, at most 14 characters, and the CEL rule gtin.digits (RE2's `$` is the end of the text, as here). */
const GTIN = /^[0-9]{14}$/;

/** Whether `message` (of `schema`, carrying `order`) surely breaks no contract rule that step 4 reports. */
export function surelyWellFormed(schema: DescMessage, message: object, order: OrderSpec | undefined): boolean {
  if (order === undefined) return false;
  if (WITH_PARTICIPANT.has(schema.typeName)) {
    const participantId = "participantId" in message ? message.participantId : undefined;
    // UTF-16 units are never fewer than the code points max_len counts.
    if (typeof participantId !== "string" || participantId.length === 0 || participantId.length > 64) return false;
  } else if (!ORDER_ONLY.has(schema.typeName)) return false;
  return orderSurelyWellFormed(order);
}

/** OrderSpec: product_group and release_method_type required, production_order_id at most 128 characters, products at least 1. */
function orderSurelyWellFormed(o: OrderSpec): boolean {
  if (o.productGroup === 0 || o.releaseMethodType === 0 || o.productionOrderId.length > 128 || o.products.length === 0) return false;
  for (const p of o.products) if (!productSurelyWellFormed(p)) return false;
  return true;
}

/** Product: gtin (above), and quantity, serial_number_type, template_id and cis_type required (not 0). */
function productSurelyWellFormed(p: Product): boolean {
  return GTIN.test(p.gtin) && p.quantity !== 0 && p.serialNumberType !== 0 && p.templateId !== 0 && p.cisType !== 0;
}
