import { create, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { FieldRulesSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { describe, expect, it } from "vitest";
import { contractViolations } from "../../src/domain/contract-rules.js";
import { lengthPlan, onlyMaxLen, surelyWithinLengths } from "../../src/domain/quick-length-check.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";

const REQUESTS: DescMessage[] = [OmsService, RegistrarService, EmitterService].flatMap((s) => s.methods.map((m) => m.input));

/** protovalidate alone, as contractViolations runs it when the quick check is not sure. */
const validator = createValidator();

/** A small seeded generator, so a failing request can be found again. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
}

/** Strings on both sides of a limit, in UTF-16 units and in code points (an astral character is two units, one code point). */
function stringsAround(limit: number): string[] {
  const half = Math.floor(limit / 2);
  return [
    "",
    "o-1",
    "o".repeat(limit),
    "o".repeat(limit + 1),
    "é".repeat(limit),
    "😀".repeat(half),
    "😀".repeat(half + 1),
    "😀".repeat(limit),
  ];
}

/** A request of `schema` with every string field picked around its limit (64 where it has none) and numbers at random. */
function randomRequest(schema: DescMessage, r: (n: number) => number): object {
  const plan = lengthPlan(schema) ?? [];
  const init: Record<string, unknown> = {};
  for (const f of schema.fields) {
    if (f.fieldKind !== "scalar" || f.oneof !== undefined) continue;
    if (f.scalar === ScalarType.STRING) {
      const pool = stringsAround(plan.find((l) => l.localName === f.localName)?.maxLen ?? 64);
      init[f.localName] = pool[r(pool.length)];
    } else if (f.scalar === ScalarType.UINT32 || f.scalar === ScalarType.INT32) init[f.localName] = r(3);
  }
  return create(schema, init as never);
}

describe("quick length check", () => {
  it("covers exactly the requests whose only rules are string lengths, with the contract's limits", () => {
    const covered = Object.fromEntries(
      REQUESTS.flatMap((m) => {
        const plan = lengthPlan(m);
        return plan === null ? [] : [[m.typeName, plan.map((l) => `${l.localName}<=${l.maxLen}`).join(",")]];
      }),
    );
    expect(covered).toEqual({
      "emission.oms.v1.GetOrderRequest": "orderId<=64",
      "emission.oms.v1.WatchOrderRequest": "orderId<=64",
      "emission.oms.v1.StreamCodesRequest": "orderId<=64",
      "emission.oms.v1.GetBlockRequest": "orderId<=64,blockId<=128",
      "emission.oms.v1.AcknowledgeBlocksRequest": "orderId<=64",
      "emission.oms.v1.CloseOrderRequest": "orderId<=64",
      "emission.oms.v1.ListProductGroupsRequest": "",
      "emission.registrar.v1.GetPoolRequest": "orderId<=64",
      "emission.registrar.v1.StreamCodesRequest": "orderId<=64",
      "emission.registrar.v1.ClosePoolRequest": "orderId<=64",
      "emission.registrar.v1.CancelPoolRequest": "orderId<=64,reason<=512",
      "emission.emitter.v1.GetEmissionOrderRequest": "orderId<=64",
      "emission.emitter.v1.StreamCodesRequest": "orderId<=64",
      "emission.emitter.v1.CloseEmissionOrderRequest": "orderId<=64",
      "emission.emitter.v1.CancelEmissionOrderRequest": "orderId<=64,reason<=512",
    });
  });

  it("never passes a request protovalidate refuses, and passes every covered request within its limits", () => {
    const r = random(20261203);
    let passed = 0;
    for (let i = 0; i < 6_000; i++) {
      const schema = REQUESTS[r(REQUESTS.length)] as DescMessage;
      const request = randomRequest(schema, r);
      const quick = surelyWithinLengths(schema, request);
      const valid = validator.validate(schema, request as never).kind === "valid";
      if (quick) expect({ type: schema.typeName, request, valid }).toMatchObject({ valid: true });
      const plan = lengthPlan(schema);
      if (plan !== null) {
        const within = plan.every((l) => String((request as Record<string, unknown>)[l.localName]).length <= l.maxLen);
        expect(quick).toBe(within);
      }
      if (quick) passed++;
    }
    // Not a check that always says "not sure".
    expect(passed).toBeGreaterThan(1_000);
  });

  it("leaves a string over its limit to protovalidate, which names the field", () => {
    const long = create(OmsService.method.closeOrder.input, { orderId: "o".repeat(65) });
    expect(surelyWithinLengths(OmsService.method.closeOrder.input, long)).toBe(false);
    expect(contractViolations(OmsService.method.closeOrder.input, long).map((v) => [v.field, v.ruleId])).toEqual([
      ["order_id", "string.max_len"],
    ]);
    // 64 astral characters are 128 UTF-16 units but 64 code points: within the rule, yet not proved here.
    const astral = create(OmsService.method.closeOrder.input, { orderId: "😀".repeat(64) });
    expect(surelyWithinLengths(OmsService.method.closeOrder.input, astral)).toBe(false);
    expect(contractViolations(OmsService.method.closeOrder.input, astral)).toEqual([]);
  });

  it("proves nothing about a request with more than length rules", () => {
    const cancel = create(OmsService.method.cancelOrder.input, { orderId: "o-1" });
    expect(lengthPlan(OmsService.method.cancelOrder.input)).toBeNull();
    expect(surelyWithinLengths(OmsService.method.cancelOrder.input, cancel)).toBe(false);
  });

  it("reads a field's limit only from rules that are exactly a string's max_len", () => {
    const maxLen = (init: object) => onlyMaxLen(create(FieldRulesSchema, init as never));
    expect(maxLen({ type: { case: "string", value: { maxLen: 64n } } })).toBe(64);
    expect(maxLen({ required: true, type: { case: "string", value: { maxLen: 64n } } })).toBeUndefined();
    expect(maxLen({ type: { case: "string", value: { maxLen: 64n, pattern: "^a" } } })).toBeUndefined();
    expect(maxLen({ type: { case: "string", value: { minLen: 1n } } })).toBeUndefined();
    expect(maxLen({ type: { case: "uint32", value: { lte: 5 } } })).toBeUndefined();
    expect(maxLen({ cel: [{ id: "x", expression: "true" }], type: { case: "string", value: { maxLen: 64n } } })).toBeUndefined();
    // A predefined rule (an extension of StringRules) arrives as an unknown field: not proved here.
    const predefined = create(FieldRulesSchema, { type: { case: "string", value: { maxLen: 64n } } });
    if (predefined.type.case === "string") predefined.type.value.$unknown = [{ no: 1600, wireType: 0, data: new Uint8Array([1]) }];
    expect(onlyMaxLen(predefined)).toBeUndefined();
  });
});
