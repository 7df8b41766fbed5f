import { CisType, ProductGroup, ReleaseMethodType, SerialNumberType } from "../../src/gen/emission/common/v1/order_pb.js";
import type { OrderSpecInit } from "../../src/apcs/apcs-client.js";
import { gtinCheckDigit } from "../../src/domain/gtin.js";

/** A valid GTIN-14 made from a 13-digit body. */
export function gtin(body13: string): string {
  return body13 + String(gtinCheckDigit(body13));
}

let next = 0;
/** A distinct valid GTIN per call, so orders of one test never share serials by accident. */
export function freshGtin(): string {
  next += 1;
  return gtin(`0460${String(process.pid % 10_000).padStart(4, "0")}${String(next).padStart(5, "0")}`);
}

/** A milk order of OPERATOR serials. */
export function milkOrder(quantity: number, g = freshGtin()): OrderSpecInit {
  return {
    productGroup: ProductGroup.MILK,
    releaseMethodType: ReleaseMethodType.PRODUCTION,
    productionOrderId: `po-${g}`,
    products: [{ gtin: g, quantity, serialNumberType: SerialNumberType.OPERATOR, templateId: 6, cisType: CisType.UNIT }],
  };
}

/** `n` distinct 13-character AI-82 serials. */
export function selfMadeSerials(n: number, prefix = "S"): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(13 - prefix.length, "0")}`);
}
