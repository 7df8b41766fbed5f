import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Transport } from "@connectrpc/connect";
import { type Logger, sleep } from "../runtime/index.js";
import { reasonOf, REQUEST_ID_HEADER, RETRANSMIT_CODES, retryHintOf } from "../rpc/index.js";

export interface RetransmitPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Deadline of each attempt of a unary call that names none of its own. */
  callTimeoutMs: number;
}

const giveUpKey = createContextKey<AbortSignal | undefined>(undefined, { description: "stop retransmitting when this aborts" });

/**
 * Call options' contextValues that stop retransmission when `signal` aborts
 * (an outbox's delivery round ending) without cutting the attempt in
 * flight, so a first run that gets through is stored for the next round to
 * find. A create call at a hop passes none: it outlives its caller's
 * deadline on purpose (createOrder at OMS says why).
 */
export function retransmitUntil(signal: AbortSignal | undefined): ContextValues {
  return createContextValues().set(giveUpKey, signal);
}

/**
 * IOTP §4.5.4 on the client side of every hop, around a transport: each
 * attempt of a unary call has a deadline; on UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED or ABORTED the same request (same headers, so the same
 * request id) is sent again after an exponential backoff with jitter, never
 * sooner than the server asked; after the last attempt the caller gets an error
 * saying so. Only calls that carry a request id are sent again: every
 * state-changing call has one, and the role below answers a repeat from its
 * stored reply; queries (NO_SIDE_EFFECTS) would be safe too but are sent once,
 * as they always were. Streams pass through: they resume by themselves
 * (block-pump.ts).
 *
 * Why a transport and not a connect interceptor: an interceptor runs inside
 * the call's one deadline, so it cannot give each attempt its own, and a role
 * handed another transport (tests, fault links) would lose it. Why not a
 * gRPC service-config retry policy: connect's client has none, and ours must
 * keep the same request id and honour RetryInfo as well. Why not cockatiel's retry: its delay does not end
 * when the caller's signal aborts (shutdown would wait out the backoff), and
 * its 4.x needs Node 22; what is left here is ours anyway.
 */
export function retransmittingTransport(inner: Transport, policy: RetransmitPolicy, log: Logger): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const attempt = () => inner.unary(method, signal, timeoutMs ?? policy.callTimeoutMs, header, input, contextValues);
      if (!new Headers(header).has(REQUEST_ID_HEADER)) return attempt();
      const stop = [signal, contextValues?.get(giveUpKey)].filter((s) => s !== undefined);
      return retransmit(method.name, attempt, { policy, log, stop });
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      inner.stream(method, signal, timeoutMs, header, input, contextValues),
  };
}

interface Retransmission {
  policy: RetransmitPolicy;
  log: Logger;
  /** Past any of these, sending again helps nobody. */
  stop: AbortSignal[];
}

async function retransmit<T>(what: string, attempt: () => Promise<T>, r: Retransmission): Promise<T> {
  const started = Date.now();
  // Made on the first failure only: most calls succeed at once, and each AbortSignal.any holds listeners on its sources.
  let stopped: AbortSignal | undefined;
  let backoff = r.policy.initialBackoffMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const e = ConnectError.from(err);
      // A request over its method's size limit would be refused the same way every time.
      if (!RETRANSMIT_CODES.has(e.code) || reasonOf(e) === "MESSAGE_TOO_LARGE" || r.stop.some((s) => s.aborted)) throw e;
      if (n >= r.policy.attempts) throw gaveUp(what, n, Date.now() - started, e);
      const delay = Math.max(backoff * (0.5 + Math.random()), retryHintOf(e) ?? 0);
      r.log.info({ what, attempt: n, code: Code[e.code], retryInMs: Math.round(delay) }, `no reply, sending again: ${e.rawMessage}`);
      stopped ??= r.stop.length === 0 ? undefined : AbortSignal.any(r.stop);
      await sleep(delay, stopped);
      backoff = Math.min(backoff * 2, r.policy.maxBackoffMs);
    }
  }
}

function gaveUp(what: string, attempts: number, ms: number, last: ConnectError): ConnectError {
  const e = new ConnectError(
    `${what}: no reply after ${attempts} attempts in ${ms} ms (last: ${last.rawMessage})`,
    last.code,
    last.metadata,
    undefined,
    last,
  );
  e.details = last.details;
  return e;
}
