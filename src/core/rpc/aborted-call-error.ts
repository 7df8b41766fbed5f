import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The status a call ends with once its handler signal fired: connect aborts
 * that signal with DEADLINE_EXCEEDED when the caller's deadline passes, and
 * with CANCELLED when the client resets the stream. A stream that stops for
 * either reason must say so, never end OK as if it were complete.
 */
export function abortedCallError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return new ConnectError("the call was cancelled", Code.Canceled, undefined, undefined, reason);
}
