import type { DescEnum } from "@bufbuild/protobuf";

/**
 * The values of a contract enum by lower-case short name ("milk" for
 * PRODUCT_GROUP_MILK), UNSPECIFIED left out: derived from the descriptor so a
 * value added to the contract is accepted without touching the CLI.
 */
export function enumChoices(schema: DescEnum): ReadonlyMap<string, number> {
  return new Map(schema.values.filter((v) => v.number !== 0).map((v) => [v.localName.toLowerCase(), v.number]));
}

/** "READY" for OrderStatus.READY; the number itself for a value this build does not know. */
export function enumLabel(schema: DescEnum, value: number): string {
  return schema.value[value]?.localName ?? String(value);
}
