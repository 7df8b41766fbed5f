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

/** What a participant holds of the emission backlog when its new order is refused. */
export interface BacklogShare {
  /** Codes of its orders not yet emitted. */
  held: number;
  /** Codes of everyone's orders not yet emitted. */
  backlog: number;
  sharePercent: number;
  /** When its share should have drained enough for the order. */
  retryAfterMs: number;
}

/**
 * The participant already holds its share of the emission backlog (step 5):
 * FAILED_PRECONDITION with a retry hint. Final for this request id; the line
 * places the order again later, under a new one.
 */
export class BacklogShareError extends Error {
  constructor(
    readonly step: string,
    readonly participantId: string,
    readonly share: BacklogShare,
  ) {
    super(
      `participant ${participantId} already has ${share.held} of the ${share.backlog} codes waiting for emission, ` +
        `more than its ${share.sharePercent}% share with this order: place it again in about ${Math.ceil(share.retryAfterMs / 1000)} s`,
    );
    this.name = "BacklogShareError";
  }
}

function summarize(violations: readonly FieldViolation[]): string {
  const shown = violations.slice(0, 3).map((v) => `${v.field}: ${v.description}`);
  const more = violations.length > 3 ? ` (and ${violations.length - 3} more)` : "";
  return shown.join("; ") + more;
}
