import { create, type DescMessage, getOption, hasOption, type MessageShape, toJson } from "@bufbuild/protobuf";
import { field as fieldRules, FieldRulesSchema, message as messageRules } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { describe, expect, it } from "vitest";
import { contractViolations } from "../../src/domain/contract-rules.js";
import { STEP_5_RULES } from "../../src/domain/order-validation.js";
import { surelyWellFormed } from "../../src/domain/quick-order-check.js";
import { type OrderSpec, OrderSpecSchema, ProductSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { CreateEmissionOrderRequestSchema } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { CreateOrderRequestSchema } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { CreatePoolRequestSchema } from "../../src/gen/emission/registrar/v1/registrar_pb.js";

/** Every buf.validate rule of the order-carrying requests, one "message.field: rule" line each. */
function contractRules(): string[] {
  const lines: string[] = [];
  const leaves = (at: string, value: unknown): void => {
    if (typeof value !== "object" || value === null) {
      lines.push(`${at}=${String(value)}`);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      if (k === "cel") for (const c of v as { id: string }[]) lines.push(`${at}: cel ${c.id}`);
      else leaves(`${at}${at.includes(":") ? "." : ": "}${k}`, v);
    }
  };
  const schemas: DescMessage[] = [
    CreateOrderRequestSchema,
    CreatePoolRequestSchema,
    CreateEmissionOrderRequestSchema,
    OrderSpecSchema,
    ProductSchema,
  ];
  for (const m of schemas) {
    const name = m.typeName.split(".").at(-1);
    if (hasOption(m, messageRules)) for (const c of getOption(m, messageRules).cel) lines.push(`${name}: cel ${c.id}`);
    for (const f of m.fields) if (hasOption(f, fieldRules)) leaves(`${name}.${f.name}`, toJson(FieldRulesSchema, getOption(f, fieldRules)));
  }
  return lines.sort();
}

/** A small seeded generator, so a failing request can be found again. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
}

const pick = <T>(r: (n: number) => number, values: readonly T[]): T => values[r(values.length)] as T;

/** Values of each field, well formed or not, in every way its rules can be broken (astral characters count twice in UTF-16). */
const GTINS = [
  "04600000000017",
  "",
  "0460000000001",
  "046000000000170",
  "0460000000001a",
  "٠٤٦٠٠٠٠٠٠٠٠٠١٧",
  "04600000000017\n",
  " 4600000000017",
];
const IDS = ["", "PO-1", "x".repeat(128), "x".repeat(129), "😀".repeat(64), "😀".repeat(65)];
const PARTICIPANTS = ["", "7700000001", "p".repeat(64), "p".repeat(65), "😀".repeat(32), "😀".repeat(33)];
const SMALL = [0, 1, 2, 3, 6, 99];

function randomOrder(r: (n: number) => number): OrderSpec {
  const count = pick(r, [0, 1, 1, 2, 3, 10, 11]);
  return create(OrderSpecSchema, {
    productGroup: pick(r, SMALL),
    releaseMethodType: pick(r, SMALL),
    productionOrderId: pick(r, IDS),
    products: Array.from({ length: count }, (_, i) => ({
      // Distinct GTINs mostly; the same one twice sometimes.
      gtin: r(8) === 0 ? pick(r, GTINS) : `0460000000${String(1000 + i)}`,
      quantity: pick(r, [0, 1, 10, 150_000, 150_001]),
      serialNumberType: pick(r, SMALL),
      templateId: pick(r, [0, 6, 99]),
      cisType: pick(r, SMALL),
    })),
  });
}

type Carrier = MessageShape<DescMessage> & { order?: OrderSpec | undefined };

function randomRequest(r: (n: number) => number): { schema: DescMessage; message: Carrier; order: OrderSpec | undefined } {
  const order = r(20) === 0 ? undefined : randomOrder(r);
  const participantId = pick(r, PARTICIPANTS);
  switch (r(4)) {
    case 0:
      return { schema: CreateOrderRequestSchema, message: create(CreateOrderRequestSchema, order === undefined ? {} : { order }), order };
    case 1:
      return {
        schema: CreatePoolRequestSchema,
        message: create(CreatePoolRequestSchema, { participantId, ...(order === undefined ? {} : { order }) }),
        order,
      };
    case 2: {
      const message = create(CreateEmissionOrderRequestSchema, { participantId, ...(order === undefined ? {} : { order }) });
      return { schema: CreateEmissionOrderRequestSchema, message, order };
    }
    default: {
      const spec = order ?? create(OrderSpecSchema);
      return { schema: OrderSpecSchema, message: spec, order: spec };
    }
  }
}

/** What protovalidate reports at step 4 (the business limits are step 5's). */
function step4Violations(schema: DescMessage, message: Carrier): string[] {
  return contractViolations(schema, message)
    .filter((v) => !STEP_5_RULES.has(v.ruleId))
    .map((v) => `${v.field}: ${v.ruleId}`);
}

describe("surelyWellFormed", () => {
  it("knows every rule of the contract: a rule added to proto/ must be proved in quick-order-check.ts first", () => {
    expect(contractRules()).toEqual([
      "CreateEmissionOrderRequest.order: required=true",
      "CreateEmissionOrderRequest.participant_id: required=true",
      "CreateEmissionOrderRequest.participant_id: string.maxLen=64",
      "CreateOrderRequest.order: required=true",
      "CreatePoolRequest.order: required=true",
      "CreatePoolRequest.participant_id: required=true",
      "CreatePoolRequest.participant_id: string.maxLen=64",
      "OrderSpec.product_group: enum.definedOnly=true",
      "OrderSpec.product_group: required=true",
      "OrderSpec.production_order_id: string.maxLen=128",
      "OrderSpec.products: repeated.maxItems=10",
      "OrderSpec.products: repeated.minItems=1",
      "OrderSpec.release_method_type: enum.definedOnly=true",
      "OrderSpec.release_method_type: required=true",
      "OrderSpec: cel order.unique_gtins",
      "Product.cis_type: enum.definedOnly=true",
      "Product.cis_type: required=true",
      "Product.gtin: cel gtin.digits",
      "Product.gtin: required=true",
      "Product.gtin: string.maxLen=14",
      "Product.quantity: required=true",
      "Product.quantity: uint32.lte=150000",
      "Product.serial_number_type: enum.definedOnly=true",
      "Product.serial_number_type: required=true",
      "Product.serial_numbers: repeated.items.string.maxLen=20",
      "Product.serial_numbers: repeated.items.string.minLen=1",
      "Product.serial_numbers: repeated.items.string.pattern=^[!\"%&'()*+,\\-./0-9:;<=>?A-Z_a-z]+$",
      "Product.serial_numbers: repeated.maxItems=150000",
      "Product.template_id: required=true",
      "Product: cel product.operator_serials",
      "Product: cel product.self_made_serials",
    ]);
  });

  it("vouches only for requests protovalidate finds nothing wrong with at step 4, over thousands of requests", () => {
    const r = random(20261202);
    let vouched = 0;
    let wellFormed = 0;
    for (let i = 0; i < 4_000; i++) {
      const { schema, message, order } = randomRequest(r);
      const violations = step4Violations(schema, message);
      if (violations.length === 0) wellFormed++;
      if (!surelyWellFormed(schema, message, order)) continue;
      vouched++;
      expect({ request: toJson(schema, message), violations }).toEqual({ request: toJson(schema, message), violations: [] });
    }
    // The check is of use: it vouches for most well-formed requests (those with astral characters it leaves to protovalidate).
    expect(vouched).toBeGreaterThan(wellFormed * 0.8);
  });

  it("vouches for a well-formed request of each kind, and for none missing its order", () => {
    const order = create(OrderSpecSchema, {
      productGroup: 6,
      releaseMethodType: 1,
      products: [{ gtin: "04600000000017", quantity: 10, serialNumberType: 2, templateId: 6, cisType: 1 }],
    });
    const participantId = "7700000001";
    expect(surelyWellFormed(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { order }), order)).toBe(true);
    expect(surelyWellFormed(CreatePoolRequestSchema, create(CreatePoolRequestSchema, { participantId, order }), order)).toBe(true);
    expect(
      surelyWellFormed(CreateEmissionOrderRequestSchema, create(CreateEmissionOrderRequestSchema, { participantId, order }), order),
    ).toBe(true);
    expect(surelyWellFormed(OrderSpecSchema, order, order)).toBe(true);
    expect(surelyWellFormed(CreatePoolRequestSchema, create(CreatePoolRequestSchema, { participantId }), undefined)).toBe(false);
    // A request of another kind is always left to protovalidate.
    expect(surelyWellFormed(ProductSchema, create(ProductSchema), order)).toBe(false);
  });
});
