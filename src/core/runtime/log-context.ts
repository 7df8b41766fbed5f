import { AsyncLocalStorage } from "node:async_hooks";

/** What joins a log line to the call or background work it was written for. */
export interface LogFields {
  traceId?: string;
  requestId?: string;
  orderId?: string;
  participantId?: string;
  step?: string;
}

const fields = new AsyncLocalStorage<LogFields>();

/** The fields of the work running now (none outside any call or background task). */
export function currentLogFields(): LogFields | undefined {
  return fields.getStore();
}

/**
 * Runs `fn` with `more` added to the fields of the work running now;
 * `fresh` starts from nothing, for background work that must not inherit
 * the call that happened to start it.
 */
export function withLogFields<T>(more: LogFields, fn: () => T, fresh = false): T {
  const base = fresh ? undefined : fields.getStore();
  return fields.run(base === undefined ? more : { ...base, ...more }, fn);
}
