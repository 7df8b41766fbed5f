/**
 * OmsService.ListProductGroups: the product-group rules of src/domain, told
 * to clients so that no integrator needs our source to form a valid order.
 */
import { create } from "@bufbuild/protobuf";
import { AI82_CHARS } from "../domain/ai82.js";
import { codeElements, codeLayout, GS } from "../domain/code-format.js";
import { PRODUCT_GROUP_RULES, type ProductGroupRules } from "../domain/product-groups.js";
import {
  ListProductGroupsResponseSchema,
  ProductGroupRulesSchema,
  type ListProductGroupsResponse,
  type ProductGroupRules as ProductGroupRulesMessage,
} from "../gen/emission/oms/v1/oms_pb.js";

/** The answer, built once: the rules are fixed for the life of the process. */
export const PRODUCT_GROUP_CATALOG: ListProductGroupsResponse = create(ListProductGroupsResponseSchema, {
  productGroups: PRODUCT_GROUP_RULES.map(toMessage),
});

function toMessage(r: ProductGroupRules): ProductGroupRulesMessage {
  const elements = codeElements(r.serialLength, r.tailLength);
  return create(ProductGroupRulesSchema, {
    productGroup: r.group,
    name: r.name,
    templateIds: [...r.templateIds],
    serialLength: r.serialLength,
    cryptoTailLength: r.tailLength,
    singleGtin: r.singleGtin,
    codeFormat: { layout: codeLayout(elements), elements: elements.map((e) => ({ ...e })), separator: GS, ai82Characters: AI82_CHARS },
  });
}
