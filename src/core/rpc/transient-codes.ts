import { Code } from "@connectrpc/connect";

/**
 * Outcomes that say nothing final about a request: the same request may well
 * succeed later. They are never stored as replies (IOTP §4.5.2.3), and clients
 * retransmit on the first three.
 */
export const TRANSIENT_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Canceled,
  Code.Unknown,
  Code.Internal,
  Code.DataLoss,
]);

/**
 * The codes a client answers by sending the same request again. ABORTED is
 * among them because connect-node reports a reset connection (ECONNRESET) so;
 * every state-changing call carries a request id, so sending again is safe.
 */
export const RETRANSMIT_CODES: ReadonlySet<Code> = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted]);
