/**
 * Refuses a request that breaks the buf.validate rules of its contract, the
 * way every role refuses a malformed request: INVALID_ARGUMENT with a
 * google.rpc.BadRequest naming each field (see toConnectError).
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { contractViolations } from "../../domain/contract-rules.js";
import { RequestInvalidError } from "../../domain/domain-errors.js";

/**
 * Throws RequestInvalidError when `message` breaks a rule. A rule on the
 * message as a whole (e.g. "exactly one of") has no field path: it is reported
 * on `messageField`. `step` is the journal step of the check, if it has one.
 */
export function requireContract<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  opts: { step?: string; messageField?: string } = {},
): void {
  const violations = contractViolations(schema, message);
  if (violations.length === 0) return;
  throw new RequestInvalidError(
    opts.step ?? "",
    violations.map((v) => ({ field: v.field === "" ? (opts.messageField ?? "") : v.field, description: v.description })),
  );
}
