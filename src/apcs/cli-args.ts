import { InvalidArgumentError } from "commander";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseAddress } from "../core/config.js";
import { productGroupRules } from "../domain/product-groups.js";
import { type CisType, ProductGroup, type ReleaseMethodType, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import type { OrderSpecInit } from "./apcs-client.js";
import { UsageError } from "./cli-errors.js";

/** One `--product gtin:quantity[:template]`. */
export interface ProductArg {
  gtin: string;
  quantity: number;
  templateId?: number;
}

const UINT32_MAX = 4_294_967_295;

/** A whole number that fits the contract's uint32 fields; range rules stay with the server. */
function uint32(value: string, what: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > UINT32_MAX) throw new InvalidArgumentError(`${what} ${JSON.stringify(value)} is not a whole number`);
  return n;
}

/**
 * Parses one --product and appends it to those before. Only the syntax is
 * checked here: GTIN check digits and quantity limits are the Emission
 * server's rules (steps 4 and 5), reported with their field paths.
 */
export function parseProduct(value: string, previous: readonly ProductArg[] | undefined): ProductArg[] {
  const parts = value.trim().split(":");
  const [gtin = "", quantity = "", template] = parts;
  if (parts.length < 2 || parts.length > 3 || gtin === "" || quantity === "" || template === "") {
    throw new InvalidArgumentError("expected gtin:quantity[:template], e.g. 04600000000010:1000 or 04600000000010:1000:6");
  }
  const product: ProductArg = { gtin, quantity: uint32(quantity, "quantity") };
  if (template !== undefined) product.templateId = uint32(template, "template");
  return [...(previous ?? []), product];
}

export function positiveInt(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive whole number`);
  return n;
}

/** Checks host:port now (a usage error) but keeps the text, which is what help shows as the default. */
export function addressArg(value: string): string {
  parseAddress(value);
  return value.trim();
}

/** "po-20250131T120000-a1b2c3": readable, sortable and unique enough for the participant's own reference. */
export function defaultProductionOrderId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "");
  return `po-${stamp}-${randomBytes(3).toString("hex")}`;
}

/** One serial per line; blank lines (a trailing newline, CRLF files) are not serials. */
export async function readSerials(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --serials-file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return text.split(/\r?\n/).filter((line) => line !== "");
}

/** Hands the serials out to the products in order: the first `quantity` to the first product, and so on. */
export function splitSerials(serials: readonly string[], quantities: readonly number[]): string[][] {
  const needed = quantities.reduce((a, b) => a + b, 0);
  if (serials.length !== needed) {
    throw new UsageError(`--serials-file has ${serials.length} serials but the products need ${needed} (the sum of their quantities)`);
  }
  const starts = quantities.map((_, i) => quantities.slice(0, i).reduce((a, b) => a + b, 0));
  return quantities.map((q, i) => serials.slice(starts[i], (starts[i] ?? 0) + q));
}

export interface OrderInput {
  group: ProductGroup;
  products: readonly ProductArg[];
  /** Per product, when the participant supplies the serials (SELF_MADE). */
  serials?: readonly (readonly string[])[];
  cisType: CisType;
  release: ReleaseMethodType;
  productionOrderId: string;
}

/** Step 1: the business order as OMS receives it. */
export function buildOrderSpec(input: OrderInput): OrderSpecInit {
  return {
    productGroup: input.group,
    releaseMethodType: input.release,
    productionOrderId: input.productionOrderId,
    products: input.products.map((p, i) => {
      const serialNumbers = input.serials?.[i];
      return {
        gtin: p.gtin,
        quantity: p.quantity,
        templateId: p.templateId ?? defaultTemplate(input.group),
        cisType: input.cisType,
        serialNumberType: serialNumbers === undefined ? SerialNumberType.OPERATOR : SerialNumberType.SELF_MADE,
        serialNumbers: serialNumbers === undefined ? [] : [...serialNumbers],
      };
    }),
  };
}

/** The group's first template, as the real system's default. */
function defaultTemplate(group: ProductGroup): number {
  const template = productGroupRules(group)?.templateIds[0];
  if (template === undefined) {
    throw new UsageError(
      `product group ${ProductGroup[group] ?? group} has no known template: give one as --product gtin:quantity:template`,
    );
  }
  return template;
}
