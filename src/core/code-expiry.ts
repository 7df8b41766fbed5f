import type { Logger } from "./logger.js";

export interface CodeExpiryOptions {
  /** How long codes of a finished (closed, cancelled, refused) order are kept. */
  retentionMs: number;
  log: Logger;
  /** Orders finished before `before` whose codes are still kept. */
  finished(before: number): Promise<string[]>;
  /** Drops the order's codes and marks it so. */
  purge(orderId: string): Promise<void>;
}

/**
 * Codes of finished orders are dropped after the retention period, by the
 * role itself (FerretDB 1.x has no TTL indexes, and MongoDB's would not know
 * when an order finished). Runs now and then; returns the stop function.
 */
export function startCodeExpiry(o: CodeExpiryOptions): () => void {
  const sweep = async (): Promise<void> => {
    for (const orderId of await o.finished(Date.now() - o.retentionMs)) await o.purge(orderId);
  };
  const timer = setInterval(() => void sweep().catch((err: unknown) => o.log.warn({ err }, "code expiry failed")), Math.max(10, Math.min(o.retentionMs, 60 * 60 * 1000)));
  timer.unref();
  return () => clearInterval(timer);
}
