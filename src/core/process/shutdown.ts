import type { HealthState } from "../rpc/index.js";
import type { Logger } from "../runtime/index.js";
import type { CallDrain } from "./call-drain.js";
import type { Readiness } from "./readiness.js";

/** How long calls cut at the end of the grace period get to send their UNAVAILABLE. */
const CUT_WAIT_MS = 1_000;

export interface ShutdownSteps {
  log: Logger;
  health: HealthState;
  readiness: Readiness;
  drain: CallDrain;
  /** How long calls in progress may take to finish. */
  graceMs: number;
  /** Stops accepting connections (clients connect to another instance). */
  stopListening(): void;
  /** Stops background work at a safe point and releases its leases; the store stays open. */
  stopWork(): Promise<void>;
  /** Closes the connections left, then the role (its store, its instance record). */
  close(): Promise<void>;
}

/**
 * Graceful shutdown (SIGTERM): report NOT_SERVING; refuse new calls with
 * UNAVAILABLE and a retry hint, end open streams with UNAVAILABLE so their
 * clients resume elsewhere, stop accepting connections; stop background work
 * at a safe point and release its leases, so another instance takes it over at
 * once; let the calls in progress finish within the grace period, cut those
 * still running after it; then close connections and the store.
 */
export async function shutDown(s: ShutdownSteps): Promise<void> {
  const startedAt = Date.now();
  s.readiness.stop();
  s.health.shutdown();
  const streamsEnded = s.drain.drain();
  s.stopListening();
  s.log.info({ graceMs: s.graceMs, callsInProgress: s.drain.inProgress, streamsEnded }, "shutting down");
  const [, finished] = await Promise.all([
    s.stopWork().catch((err: unknown) => s.log.warn({ err }, "background work did not stop cleanly")),
    s.drain.idle(s.graceMs),
  ]);
  if (!finished) {
    s.log.warn({ callsCut: s.drain.cut(), graceMs: s.graceMs }, "grace period over: calls still in progress end with UNAVAILABLE");
    await s.drain.idle(CUT_WAIT_MS);
  }
  await s.close();
  s.log.info({ ms: Date.now() - startedAt }, "stopped");
}
