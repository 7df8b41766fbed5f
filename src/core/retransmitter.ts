import { Code, ConnectError } from "@connectrpc/connect";
import { sleep } from "./sleep.js";
import type { MeshConfig } from "./config.js";
import type { Logger } from "./logger.js";
import { retryHintOf } from "./retry-hint.js";
import { RETRANSMIT_CODES } from "./transient-codes.js";

export interface RetransmitPolicy {
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Deadline of each attempt. */
  callTimeoutMs: number;
}

export function retransmitPolicy(config: MeshConfig): RetransmitPolicy {
  return { ...config.retransmit, callTimeoutMs: config.callTimeoutMs };
}

/**
 * IOTP §4.5.4 on the client side of every hop: each attempt has a deadline;
 * on UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED the same request is
 * sent again, with the same request id (the caller's closure keeps it), after
 * an exponential backoff with jitter, never sooner than the server asked; after
 * the last attempt the caller gets an error saying so. (grpc-js's own retry
 * policy never fires against connect-node, whose errors are not trailers-only.)
 */
export class Retransmitter {
  constructor(
    private readonly policy: RetransmitPolicy,
    private readonly log: Logger,
  ) {}

  async call<T>(what: string, attempt: (timeoutMs: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const started = Date.now();
    let backoff = this.policy.initialBackoffMs;
    for (let n = 1; ; n++) {
      try {
        return await attempt(this.policy.callTimeoutMs);
      } catch (err) {
        const e = ConnectError.from(err);
        // Past the caller's own deadline (signal), retransmitting further helps nobody:
        // this bounds how retries at several hops multiply.
        if (!RETRANSMIT_CODES.has(e.code) || signal?.aborted === true) throw e;
        if (n >= this.policy.attempts) throw gaveUp(what, n, Date.now() - started, e);
        const delay = Math.max(backoff * (0.5 + Math.random()), retryHintOf(e) ?? 0);
        this.log.info({ what, attempt: n, code: Code[e.code], retryInMs: Math.round(delay) }, `no reply, sending again: ${e.rawMessage}`);
        await sleep(delay, signal);
        backoff = Math.min(backoff * 2, this.policy.maxBackoffMs);
      }
    }
  }
}

function gaveUp(what: string, attempts: number, ms: number, last: ConnectError): ConnectError {
  const e = new ConnectError(`${what}: no reply after ${attempts} attempts in ${ms} ms (last: ${last.rawMessage})`, last.code, last.metadata, undefined, last);
  e.details = last.details;
  return e;
}
