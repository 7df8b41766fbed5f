import { describe, expect, it } from "vitest";
import { ProductGroup, ProductGroupSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { PRODUCT_GROUP_RULES, productGroupRules } from "../../src/domain/product-groups.js";

// DESIGN.md §4: templates by group, tobacco's 7-character serials, the
// 88-character tails, pharma's single GTIN.
const EXPECTED: ReadonlyArray<readonly [ProductGroup, string, number[], number, number, boolean]> = [
  [ProductGroup.SHOES, "shoes", [1], 13, 88, false],
  [ProductGroup.PHARMA, "pharma", [2, 5], 13, 44, true],
  [ProductGroup.TOBACCO, "tobacco", [3, 4], 7, 44, false],
  [ProductGroup.MILK, "milk", [6, 20], 13, 44, false],
  [ProductGroup.TIRES, "tires", [7], 13, 88, false],
  [ProductGroup.ELECTRONICS, "electronics", [8], 13, 88, false],
  [ProductGroup.PERFUMERY, "perfumery", [9], 13, 88, false],
  [ProductGroup.LP, "lp", [10], 13, 88, false],
  [ProductGroup.BICYCLE, "bicycle", [11], 13, 44, false],
  [ProductGroup.WHEELCHAIRS, "wheelchairs", [12], 13, 44, false],
  [ProductGroup.OTP, "otp", [14, 15], 13, 44, false],
  [ProductGroup.WATER, "water", [16], 13, 44, false],
];

describe("productGroupRules", () => {
  it.each(EXPECTED)("knows group %i (%s)", (group, name, templateIds, serialLength, tailLength, singleGtin) => {
    expect(productGroupRules(group)).toEqual({ group, name, templateIds, serialLength, tailLength, singleGtin });
  });

  it("covers every product group of the contract", () => {
    const contract = ProductGroupSchema.values.map((v) => v.number).filter((n) => n !== ProductGroup.UNSPECIFIED);
    expect(PRODUCT_GROUP_RULES.map((r) => r.group)).toEqual(contract);
  });

  it.each([ProductGroup.UNSPECIFIED, 13, 99, -1])("has no rules for %i", (group) => {
    expect(productGroupRules(group)).toBeUndefined();
  });

  it("gives every template to one group only", () => {
    const templates = PRODUCT_GROUP_RULES.flatMap((r) => r.templateIds);
    expect(new Set(templates).size).toBe(templates.length);
  });
});
