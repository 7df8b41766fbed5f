/**
 * The Emission server's two checks of process 01.01.00.00:
 * step 4 checks the request (presence, format, size), step 5 the order's
 * business rules. Both are linear in the order's size (Maps and Sets, no
 * pairwise work), so a 10 × 150 000-serial order is checked in well under a
 * second. Whether a serial was ever emitted before needs storage and is
 * checked by the Emission server, not here.
 */
import type { DescEnum, DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  CisTypeSchema,
  OrderSpecSchema,
  ReleaseMethodTypeSchema,
  SerialNumberType,
  type OrderSpec,
  type Product,
} from "../gen/emission/common/v1/order_pb.js";
import { isAi82 } from "./ai82.js";
import { contractViolations } from "./contract-rules.js";
import { surelyWellFormed } from "./quick-order-check.js";
import { MAX_SERIAL_LENGTH } from "./code-format.js";
import { gtinCheckDigit, isGtin14Shaped, isValidGtin14 } from "./gtin.js";
import { productGroupRules, type ProductGroupRules } from "./product-groups.js";
import { ViolationList, type Violation } from "./violation-list.js";

export type { Violation } from "./violation-list.js";

export const ORDER_LIMITS = {
  /** Products in an order (step 5). */
  maxProducts: 10,
  /** Products a request may carry at all (step 4): beyond it the request is malformed. */
  maxRequestProducts: 100,
  maxQuantity: 150_000,
  maxSerialsPerProduct: 150_000,
  maxSerialChars: MAX_SERIAL_LENGTH,
  maxProductionOrderIdChars: 128,
} as const;

export interface OrderContext {
  /** Orders of this participant that are still active. */
  activeOrders: number;
  /** The cap on active orders per participant (100 in the real system). */
  maxActiveOrders: number;
}

/**
 * Step 4: is the request well formed? The rules are the contract's own
 * (buf.validate in order.proto), run by protovalidate, except two kinds:
 * - the business limits (STEP_5_RULES) are reported by step 5, in its words;
 * - the per-serial rules (length 1..20, AI-82 characters, at most 150 000):
 *   protovalidate takes about 6 s for 10 × 150 000 serials (a regex and a
 *   length rule per serial), this loop 0.1-0.2 s, so the serials are checked
 *   here by hand, to the same rules, and left out of the protovalidate pass.
 */
export function checkRequest(order: OrderSpec | undefined): Violation[] {
  if (order === undefined) return [{ field: "order", description: "the order is required" }];
  return checkRequestOf(OrderSpecSchema, order, order, "order");
}

/**
 * Step 4 of a whole request carrying an order in its `order` field (e.g.
 * CreateEmissionOrderRequest): its own fields' rules as well as the order's.
 */
export function checkOrderRequest<Desc extends DescMessage>(
  schema: Desc,
  request: MessageShape<Desc> & { order?: OrderSpec | undefined },
): Violation[] {
  return checkRequestOf(schema, request, request.order, "");
}

function checkRequestOf<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  order: OrderSpec | undefined,
  prefix: string,
): Violation[] {
  const v = new ViolationList();
  // protovalidate only where the quick check cannot vouch for the request (quick-order-check.ts).
  if (!surelyWellFormed(schema, message, order)) {
    for (const c of contractViolations(schema, withoutSerials(message, order), prefix)) {
      if (!STEP_5_RULES.has(c.ruleId)) v.add(c.field, c.description);
    }
  }
  if (order === undefined) return v.toArray();
  const count = order.products.length;
  if (count > ORDER_LIMITS.maxRequestProducts) {
    v.add("order.products", `a request carries at most ${ORDER_LIMITS.maxRequestProducts} products, got ${count}`);
  }
  for (const [i, p] of order.products.entries()) checkSerialShapes(v, p.serialNumbers, productPath(i));
  return v.toArray();
}

/**
 * Contract rules that are business limits of step 5 (an order within them is
 * well formed but refused): unknown enum numbers, more than 10 products, a
 * quantity over 150 000, serials not matching the serial number type, a GTIN twice.
 */
export const STEP_5_RULES: ReadonlySet<string> = new Set([
  "enum.defined_only",
  "repeated.max_items",
  "uint32.lte",
  "product.self_made_serials",
  "product.operator_serials",
  "order.unique_gtins",
]);

/** The message with every product's serials left out (they are checked by hand, see checkRequest). */
function withoutSerials<T extends object>(message: T, order: OrderSpec | undefined): T {
  if (order === undefined) return message;
  const light: OrderSpec = { ...order, products: order.products.map((p) => ({ ...p, serialNumbers: [] })) };
  return ("products" in message ? light : { ...message, order: light }) as T;
}

/** The serial_numbers rules of order.proto, by hand: at most 150 000 serials of 1..20 AI-82 characters. */
function checkSerialShapes(v: ViolationList, serials: readonly string[], path: string): void {
  if (serials.length > ORDER_LIMITS.maxSerialsPerProduct) {
    v.add(`${path}.serial_numbers`, `at most ${ORDER_LIMITS.maxSerialsPerProduct} serials per product, got ${serials.length}`);
  }
  for (let j = 0; j < serials.length; j++) {
    const serial = serials[j];
    // AI-82 is ASCII, so UTF-16 length is the character count of any serial that passes.
    if (serial.length >= 1 && serial.length <= ORDER_LIMITS.maxSerialChars && isAi82(serial)) continue;
    v.addLazy(() => ({ field: serialPath(path, j), description: serialShapeProblem(serial) }));
  }
}

function serialShapeProblem(serial: string): string {
  if (serial.length === 0) return "a serial is at least 1 character";
  if (!isAi82(serial)) return `serial ${JSON.stringify(serial.slice(0, 40))} has characters outside GS1 AI-82`;
  return `a serial is at most ${ORDER_LIMITS.maxSerialChars} characters`;
}

/** Step 5: does the order keep the business rules? Run only on a request that passed step 4. */
export function checkOrder(order: OrderSpec, ctx: OrderContext): Violation[] {
  const v = new ViolationList();
  if (ctx.activeOrders >= ctx.maxActiveOrders) {
    v.add("order", `the participant already has ${ctx.activeOrders} active orders; at most ${ctx.maxActiveOrders} are allowed`);
  }
  const rules = productGroupRules(order.productGroup);
  if (rules === undefined) v.add("order.product_group", `unknown product group ${order.productGroup}`);
  if (!RELEASE_METHODS.has(order.releaseMethodType)) {
    v.add("order.release_method_type", `unknown release method type ${order.releaseMethodType}`);
  }
  checkProductCount(v, order.products.length, rules);
  const firstIndexOfGtin = new Map<string, number>();
  order.products.forEach((p, i) => {
    const path = productPath(i);
    checkDuplicateGtin(v, p.gtin, path, i, firstIndexOfGtin);
    checkProductRules(v, p, path, rules);
    checkSerialSource(v, p, path, rules?.serialLength);
  });
  return v.toArray();
}

function knownValues(schema: DescEnum): ReadonlySet<number> {
  return new Set(schema.values.map((value) => value.number).filter((n) => n !== 0));
}

// Taken from the generated descriptors so a value added to the contract is known at once.
const RELEASE_METHODS = knownValues(ReleaseMethodTypeSchema);
const CIS_TYPES = knownValues(CisTypeSchema);

function checkProductCount(v: ViolationList, count: number, rules: ProductGroupRules | undefined): void {
  if (count < 1 || count > ORDER_LIMITS.maxProducts) {
    v.add("order.products", `an order carries 1 to ${ORDER_LIMITS.maxProducts} products, got ${count}`);
  }
  if (rules?.singleGtin === true && count > 1) {
    v.add("order.products", `a ${rules.name} order carries exactly one GTIN, got ${count} products`);
  }
}

function checkDuplicateGtin(v: ViolationList, gtin: string, path: string, index: number, firstIndexOf: Map<string, number>): void {
  const first = firstIndexOf.get(gtin);
  if (first === undefined) firstIndexOf.set(gtin, index);
  else v.add(`${path}.gtin`, `GTIN ${gtin} already appears in ${productPath(first)}; each GTIN appears once per order`);
}

function checkProductRules(v: ViolationList, p: Product, path: string, rules: ProductGroupRules | undefined): void {
  if (p.quantity < 1 || p.quantity > ORDER_LIMITS.maxQuantity) {
    v.add(`${path}.quantity`, `must be 1 to ${ORDER_LIMITS.maxQuantity}, got ${p.quantity}`);
  }
  if (!isValidGtin14(p.gtin)) v.add(`${path}.gtin`, gtinProblem(p.gtin));
  if (!CIS_TYPES.has(p.cisType)) v.add(`${path}.cis_type`, `unknown CIS type ${p.cisType}`);
  if (rules !== undefined && !rules.templateIds.includes(p.templateId)) {
    v.add(`${path}.template_id`, `template ${p.templateId} is not a ${rules.name} template (${rules.templateIds.join(", ")})`);
  }
}

function gtinProblem(gtin: string): string {
  if (!isGtin14Shaped(gtin)) return "must be exactly 14 digits (a GTIN-14)";
  return `GTIN ${gtin} has a wrong check digit (GS1 mod-10 gives ${gtinCheckDigit(gtin.slice(0, 13))})`;
}

/** SELF_MADE products bring their serials; OPERATOR products leave them to the Emission server. */
function checkSerialSource(v: ViolationList, p: Product, path: string, serialLength: number | undefined): void {
  const field = `${path}.serial_numbers`;
  switch (p.serialNumberType) {
    case SerialNumberType.SELF_MADE:
      if (p.serialNumbers.length !== p.quantity) {
        v.add(field, `a SELF_MADE product carries exactly quantity (${p.quantity}) serials, got ${p.serialNumbers.length}`);
      }
      checkSelfMadeSerials(v, p.serialNumbers, path, serialLength);
      return;
    case SerialNumberType.OPERATOR:
      if (p.serialNumbers.length > 0) v.add(field, "an OPERATOR product carries no serials: the Emission server generates them");
      return;
    default:
      v.add(`${path}.serial_number_type`, `unknown serial number type ${p.serialNumberType}`);
  }
}

/** One violation per bad serial, naming its first problem; `serialLength` is unknown when the group is. */
function checkSelfMadeSerials(v: ViolationList, serials: readonly string[], path: string, serialLength: number | undefined): void {
  const firstIndexOf = new Map<string, number>();
  for (let j = 0; j < serials.length; j++) {
    const serial = serials[j];
    const first = firstIndexOf.get(serial);
    if (first === undefined) firstIndexOf.set(serial, j);
    const wrongLength = serialLength !== undefined && serial.length !== serialLength;
    if (first === undefined && !wrongLength && isAi82(serial)) continue;
    v.addLazy(() => ({ field: serialPath(path, j), description: serialProblem(serial, serialLength, first, path) }));
  }
}

function serialProblem(serial: string, serialLength: number | undefined, first: number | undefined, path: string): string {
  const shown = JSON.stringify(serial.slice(0, 40));
  if (!isAi82(serial)) return `serial ${shown} has characters outside GS1 AI-82`;
  if (serialLength !== undefined && serial.length !== serialLength) {
    return `serial ${shown} has ${serial.length} characters; this product group uses ${serialLength}`;
  }
  return `serial ${shown} repeats ${serialPath(path, first ?? 0)}`;
}

function productPath(index: number): string {
  return `order.products[${index}]`;
}

function serialPath(product: string, index: number): string {
  return `${product}.serial_numbers[${index}]`;
}
