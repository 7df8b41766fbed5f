/** A wrong field, as google.rpc.BadRequest reports it. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** The request is malformed (step 4): INVALID_ARGUMENT with field violations. */
export class RequestInvalidError extends Error {
  constructor(
    readonly step: string,
    readonly violations: readonly FieldViolation[],
  ) {
    super(`the request is malformed: ${summarize(violations)}`);
    this.name = "RequestInvalidError";
  }
}

/** The order breaks a business rule (step 5): FAILED_PRECONDITION. */
export class OrderRejectedError extends Error {
  constructor(
    readonly step: string,
    readonly violations: readonly FieldViolation[],
  ) {
    super(`the order breaks the rules: ${summarize(violations)}`);
    this.name = "OrderRejectedError";
  }
}

/** No such order (or not one the caller may see): NOT_FOUND. */
export class OrderNotFoundError extends Error {
  constructor(readonly orderId: string) {
    super(`order ${JSON.stringify(orderId)} not found`);
    this.name = "OrderNotFoundError";
  }
}

/** The order exists but is in a state that forbids the call: FAILED_PRECONDITION. */
export class OrderStateError extends Error {
  constructor(
    readonly orderId: string,
    readonly state: string,
    what: string,
  ) {
    super(`order ${orderId} is ${state}: ${what}`);
    this.name = "OrderStateError";
  }
}

function summarize(violations: readonly FieldViolation[]): string {
  const shown = violations.slice(0, 3).map((v) => `${v.field}: ${v.description}`);
  const more = violations.length > 3 ? ` (and ${violations.length - 3} more)` : "";
  return shown.join("; ") + more;
}
