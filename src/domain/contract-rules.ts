/**
 * The request rules written in the contracts themselves (the buf.validate
 * annotations in proto/), enforced with protovalidate: the same rules a Python
 * or Go client can run with its own protovalidate before it calls.
 */
import { create, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { surelyWithinLengths } from "./quick-length-check.js";
import type { Violation } from "./violation-list.js";

/** A broken contract rule: where (proto field path), what, and the rule's id (e.g. "string.pattern"). */
export interface ContractViolation extends Violation {
  ruleId: string;
}

// One validator for the process: it compiles each message's rules once and caches them.
const validator = createValidator();

/**
 * Every contract rule `message` breaks. `prefix` is the path of the message
 * inside the request ("order"), so paths read as the caller sent them:
 * `order.products[0].gtin`.
 */
export function contractViolations<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, prefix = ""): ContractViolation[] {
  if (surelyWithinLengths(schema, message)) return [];
  const result = validator.validate(schema, message);
  // A rule that does not compile or evaluate is a bug in the contract, not in the request.
  if (result.kind === "error") throw result.error;
  if (result.kind === "valid") return [];
  return result.violations.map((v) => ({ field: joinPath(prefix, pathToString(v.field)), description: v.message, ruleId: v.ruleId }));
}

function joinPath(prefix: string, path: string): string {
  if (prefix === "") return path;
  return path === "" ? prefix : `${prefix}.${path}`;
}

/**
 * Compiles the rules of every request of `services` now: the first
 * validation of a message type compiles its CEL rules (hundreds of ms),
 * which belongs to start-up, not to the first caller.
 */
export function warmContractRules(services: readonly DescService[]): void {
  const seen = new Set<string>();
  const warm = (message: DescMessage): void => {
    if (seen.has(message.typeName)) return;
    seen.add(message.typeName);
    validator.validate(message, create(message));
    // Rules of a nested message compile when one is first set: warm those too.
    for (const field of message.fields) {
      if (field.message !== undefined && !field.message.typeName.startsWith("google.protobuf.")) warm(field.message);
    }
  };
  for (const service of services) for (const method of service.methods) warm(method.input);
}
