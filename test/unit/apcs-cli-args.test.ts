import { InvalidArgumentError } from "commander";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildOrderSpec, defaultProductionOrderId, parseProduct, positiveInt, splitSerials } from "../../src/apcs/cli-args.js";
import { UsageError } from "../../src/apcs/cli-errors.js";
import { GROUPS, planOrder, type OrderOptions } from "../../src/apcs/cli-order.js";
import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import { gtin } from "../support/orders.js";

const G1 = gtin("0460000000001");
const G2 = gtin("0460000000002");

function options(o: Partial<OrderOptions> = {}): OrderOptions {
  return { group: "milk", product: [{ gtin: G1, quantity: 3 }], cisType: "unit", release: "production", wait: true, ...o };
}

describe("parseProduct", () => {
  it("reads gtin:quantity and gtin:quantity:template, appending to earlier --product values", () => {
    const first = parseProduct(`${G1}:2500`, undefined);
    expect(first).toEqual([{ gtin: G1, quantity: 2500 }]);
    expect(parseProduct(` ${G2}:10:20 `, first)).toEqual([
      { gtin: G1, quantity: 2500 },
      { gtin: G2, quantity: 10, templateId: 20 },
    ]);
  });

  it("refuses malformed values with a message showing the expected form", () => {
    for (const bad of ["abc", `${G1}`, `${G1}:`, `:5`, `${G1}:5:`, `${G1}:5:6:7`]) {
      expect(() => parseProduct(bad, undefined), bad).toThrow(/expected gtin:quantity\[:template\]/);
    }
    expect(() => parseProduct(`${G1}:lots`, undefined)).toThrow(InvalidArgumentError);
    expect(() => parseProduct(`${G1}:-5`, undefined)).toThrow(/quantity "-5" is not a whole number/);
    expect(() => parseProduct(`${G1}:5:x`, undefined)).toThrow(/template "x" is not a whole number/);
    expect(() => parseProduct(`${G1}:4294967296`, undefined)).toThrow(/not a whole number/);
  });

  it("leaves GTIN check digits and quantity limits to the server, which names the field", () => {
    expect(parseProduct("04600000000016:0", undefined)).toEqual([{ gtin: "04600000000016", quantity: 0 }]);
  });
});

describe("product groups", () => {
  it("accepts every ProductGroup value by its lower-case name", () => {
    const expected = Object.entries(ProductGroup)
      .filter((e): e is [string, number] => typeof e[1] === "number" && e[1] !== ProductGroup.UNSPECIFIED)
      .map(([name, value]) => [name.toLowerCase(), value]);
    expect([...GROUPS.entries()]).toEqual(expected);
    expect(GROUPS.get("milk")).toBe(ProductGroup.MILK);
    expect(GROUPS.get("lp")).toBe(ProductGroup.LP);
  });
});

describe("buildOrderSpec", () => {
  it("fills in the group's first template and OPERATOR serials", () => {
    const spec = buildOrderSpec({
      group: ProductGroup.TOBACCO,
      products: [
        { gtin: G1, quantity: 5 },
        { gtin: G2, quantity: 7, templateId: 4 },
      ],
      cisType: CisType.BUNDLE,
      release: ReleaseMethodType.IMPORT,
      productionOrderId: "po-1",
    });
    expect(spec).toEqual({
      productGroup: ProductGroup.TOBACCO,
      releaseMethodType: ReleaseMethodType.IMPORT,
      productionOrderId: "po-1",
      products: [
        { gtin: G1, quantity: 5, templateId: 3, cisType: CisType.BUNDLE, serialNumberType: SerialNumberType.OPERATOR, serialNumbers: [] },
        { gtin: G2, quantity: 7, templateId: 4, cisType: CisType.BUNDLE, serialNumberType: SerialNumberType.OPERATOR, serialNumbers: [] },
      ],
    });
  });
});

describe("serials", () => {
  it("hands the serials to the products in order", () => {
    expect(splitSerials(["a", "b", "c", "d", "e"], [2, 3])).toEqual([
      ["a", "b"],
      ["c", "d", "e"],
    ]);
  });

  it("refuses a file whose count does not match the quantities", () => {
    expect(() => splitSerials(["a", "b"], [2, 3])).toThrow(UsageError);
    expect(() => splitSerials(["a", "b", "c", "d", "e", "f"], [2, 3])).toThrow(/has 6 serials but the products need 5/);
  });

  it("makes a SELF_MADE order from --serials-file, ignoring blank lines and CRLF", async () => {
    const dir = await mkdtemp(join(tmpdir(), "apcs-cli-"));
    const path = join(dir, "serials.txt");
    await writeFile(path, "S000000000001\r\nS000000000002\n\nS000000000003\n");
    const { spec } = await planOrder(
      options({
        serialsFile: path,
        product: [
          { gtin: G1, quantity: 1 },
          { gtin: G2, quantity: 2 },
        ],
      }),
    );
    expect(spec.products?.map((p) => [p.serialNumberType, p.serialNumbers])).toEqual([
      [SerialNumberType.SELF_MADE, ["S000000000001"]],
      [SerialNumberType.SELF_MADE, ["S000000000002", "S000000000003"]],
    ]);
  });

  it("reports an unreadable --serials-file as a usage error", async () => {
    await expect(planOrder(options({ serialsFile: "/nonexistent/serials.txt" }))).rejects.toThrow(
      /cannot read --serials-file \/nonexistent/,
    );
  });
});

describe("planOrder", () => {
  it("maps names to the contract's enums and generates the ids left out", async () => {
    const { spec, requestId } = await planOrder(options({ group: "water", cisType: "group", release: "remark" }));
    expect([spec.productGroup, spec.products?.[0]?.cisType, spec.releaseMethodType, spec.products?.[0]?.templateId]).toEqual([
      ProductGroup.WATER,
      CisType.GROUP,
      ReleaseMethodType.REMARK,
      16,
    ]);
    expect(spec.productionOrderId).toMatch(/^po-\d{8}T\d{6}-[0-9a-f]{6}$/);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps the ids given", async () => {
    const plan = await planOrder(options({ productionOrderId: "line-7/batch-12", requestId: "req-0000001" }));
    expect([plan.spec.productionOrderId, plan.requestId]).toEqual(["line-7/batch-12", "req-0000001"]);
  });
});

describe("small parsers", () => {
  it("positiveInt refuses zero, negatives and fractions", () => {
    expect(positiveInt("250")).toBe(250);
    for (const bad of ["0", "-1", "1.5", "", "1e3"]) expect(() => positiveInt(bad), bad).toThrow(/not a positive whole number/);
  });

  it("defaultProductionOrderId is stamped with the time", () => {
    expect(defaultProductionOrderId(new Date("2025-03-04T05:06:07.890Z"))).toMatch(/^po-20250304T050607-[0-9a-f]{6}$/);
  });
});
