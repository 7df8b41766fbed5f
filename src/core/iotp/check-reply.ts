import { Code, ConnectError } from "@connectrpc/connect";
import type { Journal } from "./journal.js";
import { errorInfo, hasErrorInfo, meshError } from "../rpc/index.js";

export interface ReplyCheck {
  journal: Journal;
  /** The "check for errors" step: "9" (Registrar), "13" (OMS), "17" (APCS). */
  step: string;
  /** Name of the role below, for messages ("Emission server"). */
  below: string;
  orderRef: string;
  requestId: string;
  participantId: string;
}

/**
 * Receives a result from the role below and checks it for errors: on error,
 * step N.1 journals it here and step N.2 sends it on to the role above with
 * the same code, message and details, and the original as its cause.
 */
export async function checkReply<T>(c: ReplyCheck, call: () => Promise<T>, problem: (reply: T) => string | undefined): Promise<T> {
  let reply: T;
  try {
    reply = await call();
  } catch (err) {
    const cause = ConnectError.from(err);
    const relayed = new ConnectError(relayMessage(c.below, cause), cause.code, undefined, undefined, cause);
    // Field violations and the step travel up unchanged; a role below that never answered is named here.
    relayed.details = hasErrorInfo(cause)
      ? cause.details
      : [...cause.details, errorInfo("ROLE_BELOW_UNAVAILABLE", { step: `${c.step}.1`, metadata: { below: c.below } })];
    await c.journal.record({
      step: `${c.step}.1`,
      orderId: c.orderRef,
      requestId: c.requestId,
      participantId: c.participantId,
      error: relayed,
      cause,
    });
    throw relayed; // N.2
  }
  const wrong = problem(reply);
  if (wrong === undefined) return reply;
  const error = meshError(`${c.below} sent an unusable reply: ${wrong}`, Code.Internal, "REPLY_UNUSABLE", { step: `${c.step}.1` });
  await c.journal.record({ step: `${c.step}.1`, orderId: c.orderRef, requestId: c.requestId, participantId: c.participantId, error });
  throw error;
}

/** Errors the role below decided keep its words; transport failures say where they happened. */
function relayMessage(below: string, cause: ConnectError): string {
  const transport = [Code.Unavailable, Code.DeadlineExceeded, Code.Unknown, Code.Internal, Code.Canceled].includes(cause.code);
  return transport ? `${below} did not answer: ${cause.rawMessage}` : cause.rawMessage;
}
