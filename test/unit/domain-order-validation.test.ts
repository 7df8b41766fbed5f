import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  CisType,
  OrderSpecSchema,
  ProductGroup,
  ProductSchema,
  ReleaseMethodType,
  SerialNumberType,
  type OrderSpec,
  type Product,
} from "../../src/gen/emission/common/v1/order_pb.js";
import { contractViolations, warmContractRules } from "../../src/domain/contract-rules.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { gtinCheckDigit } from "../../src/domain/gtin.js";
import { checkOrder, checkRequest, type Violation } from "../../src/domain/order-validation.js";
import { randomSerials } from "../../src/domain/serial-generator.js";

type ProductInit = MessageInitShape<typeof ProductSchema>;
type OrderInit = MessageInitShape<typeof OrderSpecSchema>;

const CTX = { activeOrders: 0, maxActiveOrders: 100 };
// Enum numbers this build does not know: protobuf decoders pass them through
// as plain numbers, which TypeScript lets through where an enum literal would not.
const UNKNOWN_GROUP: number = 99;
const UNKNOWN_VALUE: number = 9;

/** The n-th of a run of valid GTIN-14s under one company prefix. */
function gtin(n: number): string {
  const body = `0460701${String(n).padStart(6, "0")}`;
  return body + gtinCheckDigit(body);
}

function product(init: ProductInit = {}): Product {
  return create(ProductSchema, {
    gtin: gtin(0),
    quantity: 3,
    serialNumberType: SerialNumberType.OPERATOR,
    templateId: 6,
    cisType: CisType.UNIT,
    ...init,
  });
}

function selfMade(serialNumbers: string[], init: ProductInit = {}): Product {
  return product({ serialNumberType: SerialNumberType.SELF_MADE, quantity: serialNumbers.length, serialNumbers, ...init });
}

/** A valid milk order of the given products (one OPERATOR product by default). */
function order(products: Product[] = [product()], init: OrderInit = {}): OrderSpec {
  return create(OrderSpecSchema, {
    productGroup: ProductGroup.MILK,
    releaseMethodType: ReleaseMethodType.PRODUCTION,
    productionOrderId: "line-3/2024-05-01/7",
    products,
    ...init,
  });
}

function fieldsOf(violations: Violation[]): string[] {
  return violations.map((v) => v.field);
}

const [SERIAL_A, SERIAL_B, SERIAL_C] = ["AbCdEfGh12345", "!\"%&'()*+,-./", ":;<=>?_xyz019"] as const;
const SERIALS = [SERIAL_A, SERIAL_B, SERIAL_C];

describe("checkRequest (step 4)", () => {
  it("passes a well-formed order", () => {
    expect(checkRequest(order([product(), selfMade(SERIALS, { gtin: gtin(1) })]))).toEqual([]);
  });

  it("requires the order itself", () => {
    expect(checkRequest(undefined)).toEqual([{ field: "order", description: "the order is required" }]);
  });

  it("leaves unknown enum numbers, check digits and business limits to step 5", () => {
    const odd = product({
      gtin: "04607012345670",
      quantity: 200_000,
      cisType: UNKNOWN_VALUE,
      serialNumberType: UNKNOWN_VALUE,
      templateId: 99,
    });
    expect(checkRequest(order([odd, odd], { productGroup: UNKNOWN_GROUP, releaseMethodType: UNKNOWN_VALUE }))).toEqual([]);
  });

  it("counts characters, not UTF-16 units, in production_order_id", () => {
    expect(checkRequest(order([product()], { productionOrderId: "😀".repeat(128) }))).toEqual([]);
  });

  it.each([
    ["product_group", order([product()], { productGroup: ProductGroup.UNSPECIFIED }), "order.product_group"],
    ["release_method_type", order([product()], { releaseMethodType: ReleaseMethodType.UNSPECIFIED }), "order.release_method_type"],
    ["products", order([]), "order.products"],
    ["a product's gtin", order([product({ gtin: "" })]), "order.products[0].gtin"],
    ["a product's quantity", order([product({ quantity: 0 })]), "order.products[0].quantity"],
    [
      "a product's serial_number_type",
      order([product({ serialNumberType: SerialNumberType.UNSPECIFIED })]),
      "order.products[0].serial_number_type",
    ],
    ["a product's cis_type", order([product({ cisType: CisType.UNSPECIFIED })]), "order.products[0].cis_type"],
    ["a product's template_id", order([product(), product({ templateId: 0 })]), "order.products[1].template_id"],
  ])("requires %s", (_what, spec, field) => {
    expect(fieldsOf(checkRequest(spec))).toEqual([field]);
  });

  it.each([
    ["a GTIN that is not 14 digits", order([product({ gtin: "4006381333931" })]), "order.products[0].gtin"],
    ["a GTIN with a letter", order([product({ gtin: "0400638133393X" })]), "order.products[0].gtin"],
    ["a production_order_id over 128 characters", order([product()], { productionOrderId: "x".repeat(129) }), "order.production_order_id"],
    ["more than 100 products", order(Array.from({ length: 101 }, () => product())), "order.products"],
    [
      "more than 150 000 serials in a product",
      order([selfMade(Array.from({ length: 150_001 }, () => "s"))]),
      "order.products[0].serial_numbers",
    ],
    ["a serial over 20 characters", order([selfMade(["ok", "x".repeat(21), "ok2"])]), "order.products[0].serial_numbers[1]"],
    ["an empty serial", order([selfMade(["ok", ""])]), "order.products[0].serial_numbers[1]"],
    ["a serial with a character outside AI-82", order([selfMade(["ok", "ok ok"])]), "order.products[0].serial_numbers[1]"],
  ])("rejects %s", (_what, spec, field) => {
    expect(fieldsOf(checkRequest(spec))).toEqual([field]);
  });

  it("lists 100 violations and then says how many more there are", () => {
    const violations = checkRequest(order([selfMade(Array.from({ length: 1000 }, () => "x".repeat(21)))]));
    expect(violations).toHaveLength(101);
    expect(violations[99]?.field).toBe("order.products[0].serial_numbers[99]");
    expect(violations[100]).toEqual({ field: "order", description: "900 more violations not listed" });
  });
});

describe("checkOrder (step 5)", () => {
  it("passes an order that keeps every rule", () => {
    expect(checkOrder(order([product(), selfMade(SERIALS, { gtin: gtin(1), templateId: 20 })]), CTX)).toEqual([]);
  });

  it("passes tobacco with 7-character serials and pharma with one GTIN", () => {
    const tobacco = order([selfMade(["Ab3!xyz"], { templateId: 4 })], { productGroup: ProductGroup.TOBACCO });
    const pharma = order([product({ templateId: 5 })], { productGroup: ProductGroup.PHARMA });
    expect([...checkOrder(tobacco, CTX), ...checkOrder(pharma, CTX)]).toEqual([]);
  });

  it.each([
    ["more than 10 products", order(Array.from({ length: 11 }, (_, i) => product({ gtin: gtin(i) }))), "order.products"],
    ["a quantity over 150 000", order([product({ quantity: 150_001 })]), "order.products[0].quantity"],
    ["a wrong GTIN check digit", order([product({ gtin: "04006381333932" })]), "order.products[0].gtin"],
    ["a GTIN twice in one order", order([product(), product({ gtin: gtin(1) }), product()]), "order.products[2].gtin"],
    ["an unknown product group", order([product()], { productGroup: UNKNOWN_GROUP }), "order.product_group"],
    ["an unknown release method type", order([product()], { releaseMethodType: UNKNOWN_VALUE }), "order.release_method_type"],
    ["an unknown cis_type", order([product({ cisType: UNKNOWN_VALUE })]), "order.products[0].cis_type"],
    ["an unknown serial_number_type", order([product({ serialNumberType: UNKNOWN_VALUE })]), "order.products[0].serial_number_type"],
    ["a template of another group", order([product({ templateId: 3 })]), "order.products[0].template_id"],
    [
      "a pharma order with two GTINs",
      order([product({ templateId: 2 }), product({ gtin: gtin(1), templateId: 5 })], { productGroup: ProductGroup.PHARMA }),
      "order.products",
    ],
    ["fewer SELF_MADE serials than the quantity", order([selfMade(SERIALS, { quantity: 4 })]), "order.products[0].serial_numbers"],
    ["a serial outside AI-82", order([selfMade(["AbCdEfGh12345", "AbCdEfGh 2345"])]), "order.products[0].serial_numbers[1]"],
    ["a serial of the wrong length for the group", order([selfMade(["AbCdEfGh1234"])]), "order.products[0].serial_numbers[0]"],
    [
      "a 13-character tobacco serial",
      order([selfMade(["AbCdEfGh12345"], { templateId: 3 })], { productGroup: ProductGroup.TOBACCO }),
      "order.products[0].serial_numbers[0]",
    ],
    ["an OPERATOR product that brings serials", order([product({ serialNumbers: SERIALS })]), "order.products[0].serial_numbers"],
  ])("rejects %s", (_what, spec, field) => {
    expect(fieldsOf(checkOrder(spec, CTX))).toEqual([field]);
  });

  it("names the first occurrence of a repeated serial", () => {
    const violations = checkOrder(order([selfMade([SERIAL_A, SERIAL_B, SERIAL_A])]), CTX);
    expect(violations).toEqual([
      { field: "order.products[0].serial_numbers[2]", description: `serial "${SERIAL_A}" repeats order.products[0].serial_numbers[0]` },
    ]);
  });

  it("refuses a participant at its active order limit, on the order as a whole", () => {
    expect(checkOrder(order(), { activeOrders: 99, maxActiveOrders: 100 })).toEqual([]);
    expect(fieldsOf(checkOrder(order(), { activeOrders: 100, maxActiveOrders: 100 }))).toEqual(["order"]);
  });

  it("lists 100 violations of a 150 000-serial order and then says how many more there are", () => {
    const violations = checkOrder(order([selfMade(randomSerials(150_000, 12))]), CTX);
    expect(violations).toHaveLength(101);
    expect(violations[100]).toEqual({ field: "order", description: "149900 more violations not listed" });
  });
});

describe("the contract's rules (buf.validate in order.proto)", () => {
  // What a client in any language gets from its own protovalidate before it calls.
  it.each([
    ["a quantity over 150 000", order([product({ quantity: 150_001 })]), "products[0].quantity", "uint32.lte"],
    ["more than 10 products", order(Array.from({ length: 11 }, (_, i) => product({ gtin: gtin(i) }))), "products", "repeated.max_items"],
    ["an unknown CIS type", order([product({ cisType: UNKNOWN_VALUE })]), "products[0].cis_type", "enum.defined_only"],
    ["a GTIN twice", order([product(), product()]), "", "order.unique_gtins"],
    ["SELF_MADE serials fewer than the quantity", order([selfMade(["a"], { quantity: 2 })]), "products[0]", "product.self_made_serials"],
    ["serials on an OPERATOR product", order([product({ serialNumbers: ["a"] })]), "products[0]", "product.operator_serials"],
    ["a serial with a character outside AI-82", order([selfMade(["ok ok"])]), "products[0].serial_numbers[0]", "string.pattern"],
  ])("hold the step-5 limits and the per-serial rules too: %s", (_what, spec, field, ruleId) => {
    expect(contractViolations(OrderSpecSchema, spec).map((v) => [v.field, v.ruleId])).toEqual([[field, ruleId]]);
  });

  it("pass a well-formed order", () => {
    expect(contractViolations(OrderSpecSchema, order([product(), selfMade(SERIALS, { gtin: gtin(1) })]))).toEqual([]);
  });
});

describe("checkRequest and checkOrder together", () => {
  // Speed is reported by `npm run bench`; this asserts the largest order passes.
  it("accept the largest order: 10 products of 150 000 serials each", () => {
    const serials = randomSerials(150_000, 13);
    const spec = order(Array.from({ length: 10 }, (_, i) => selfMade(serials, { gtin: gtin(i) })));
    expect(checkRequest(spec)).toEqual([]);
    expect(checkOrder(spec, CTX)).toEqual([]);
  });
});

describe("warmContractRules", () => {
  it("compiles the rules of every request of every role's services, so none breaks at its first call", () => {
    const services = [OmsService, RegistrarService, EmitterService, JournalService];
    expect(() => warmContractRules(services)).not.toThrow();
  });
});
