import { Code, ConnectError } from "@connectrpc/connect";
import { fieldViolationsOf, grpcCodeName, stepOf } from "../core/rpc/index.js";
import type { FieldViolation } from "../domain/domain-errors.js";
import type { Colors } from "./cli-io.js";

/** Wrong arguments found after parsing (a file that cannot be read, serials that do not add up): exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The operator interrupted the command (Ctrl-C): exit 130, as shells expect. */
export class Interrupted extends Error {
  override readonly name = "Interrupted";
}

/** What the operator needs besides the error to act on it: which order, which request id, how far it got. */
export interface FailureContext {
  requestId?: string;
  orderId?: string;
  note?: string;
}

/** An error with the context of the command it broke. */
export class CommandFailure extends Error {
  override readonly name = "CommandFailure";
  constructor(
    override readonly cause: unknown,
    readonly context: FailureContext,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** A failure as the CLI reports it, and as --json prints it under "error". */
export interface FailureReport {
  code: string;
  message: string;
  step: string | null;
  violations: FieldViolation[];
  requestId?: string;
  orderId?: string;
  note?: string;
}

export function failureOf(err: unknown): FailureReport {
  if (err instanceof CommandFailure) return { ...failureOf(err.cause), ...err.context };
  if (err instanceof ConnectError) {
    return { code: grpcCodeName(err.code), message: err.rawMessage, step: stepOf(err) ?? null, violations: fieldViolationsOf(err) };
  }
  return { code: "ERROR", message: err instanceof Error ? err.message : String(err), step: null, violations: [] };
}

// Failures a retransmission may cure; the server never stores these replies (DESIGN §3).
const TRANSIENT = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted].map(grpcCodeName));

/** "INVALID_ARGUMENT at step 4: …" followed by one indented line per field violation. */
export function formatFailure(f: FailureReport, c: Colors): string {
  const where = f.step === null ? "" : ` at step ${f.step}`;
  const lines = [`${c.bold(c.red(f.code))}${where}: ${f.message}`];
  for (const v of f.violations) lines.push(`  ${c.yellow(v.field)}: ${v.description}`);
  if (f.note !== undefined) lines.push(`  ${f.note}`);
  // Only a placement that got no answer is worth retrying under the same id.
  if (f.requestId !== undefined && f.orderId === undefined && TRANSIENT.has(f.code)) {
    lines.push(`  request id ${f.requestId}: run again with --request-id ${f.requestId} to get this order rather than a second one`);
  }
  return lines.join("\n");
}
