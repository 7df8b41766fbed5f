/**
 * What each product group of the marking system fixes about its codes:
 * accepted templates, serial length, crypto tail length and whether an
 * order may mix GTINs. Values follow the real system (DESIGN.md §4).
 */
import { ProductGroup } from "../gen/emission/common/v1/order_pb.js";
import type { TailLength } from "./code-format.js";

export interface ProductGroupRules {
  readonly group: ProductGroup;
  /** Short name as the real API spells it, e.g. "milk". */
  readonly name: string;
  readonly templateIds: readonly number[];
  /** Characters in an AI 21 serial. */
  readonly serialLength: number;
  /** Characters in the AI 92 crypto tail. */
  readonly tailLength: TailLength;
  /** True when an order of this group carries exactly one GTIN (pharma). */
  readonly singleGtin: boolean;
}

interface Exceptions {
  serialLength?: number;
  tailLength?: TailLength;
  singleGtin?: boolean;
}

// Most groups use 13-character serials, 44-character tails and allow several
// GTINs an order; each row names only where its group differs.
function rules(group: ProductGroup, name: string, templateIds: readonly number[], ex: Exceptions = {}): ProductGroupRules {
  return {
    group,
    name,
    templateIds,
    serialLength: ex.serialLength ?? 13,
    tailLength: ex.tailLength ?? 44,
    singleGtin: ex.singleGtin ?? false,
  };
}

const LONG_TAIL = { tailLength: 88 } as const;

/** Every known product group, in enum order. */
export const PRODUCT_GROUP_RULES: readonly ProductGroupRules[] = [
  rules(ProductGroup.SHOES, "shoes", [1], LONG_TAIL),
  rules(ProductGroup.PHARMA, "pharma", [2, 5], { singleGtin: true }),
  rules(ProductGroup.TOBACCO, "tobacco", [3, 4], { serialLength: 7 }),
  rules(ProductGroup.MILK, "milk", [6, 20]),
  rules(ProductGroup.TIRES, "tires", [7], LONG_TAIL),
  rules(ProductGroup.ELECTRONICS, "electronics", [8], LONG_TAIL),
  rules(ProductGroup.PERFUMERY, "perfumery", [9], LONG_TAIL),
  rules(ProductGroup.LP, "lp", [10], LONG_TAIL),
  rules(ProductGroup.BICYCLE, "bicycle", [11]),
  rules(ProductGroup.WHEELCHAIRS, "wheelchairs", [12]),
  rules(ProductGroup.OTP, "otp", [14, 15]),
  rules(ProductGroup.WATER, "water", [16]),
];

const BY_GROUP: ReadonlyMap<number, ProductGroupRules> = new Map(PRODUCT_GROUP_RULES.map((r) => [r.group, r]));

/**
 * The rules of a product group; undefined for UNSPECIFIED and for numeric
 * values this build does not know (a newer client may send them).
 * Takes a plain number because stored orders keep the enum as one.
 */
export function productGroupRules(group: number): ProductGroupRules | undefined {
  return BY_GROUP.get(group);
}
