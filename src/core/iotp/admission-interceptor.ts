import type { DescService } from "@bufbuild/protobuf";
import { Code, type Interceptor } from "@connectrpc/connect";
import { transientError } from "../rpc/index.js";

export interface AdmissionLimits {
  /** Unary calls of the role's services being worked on at once. */
  maxInFlight: number;
  /** Open server streams (code streams, watches) at once. */
  maxStreams: number;
  /** Base of the retry hint, jittered up to twice as long. */
  retryHintMs: number;
}

/** Current load, for logs and tests. */
export interface AdmissionGauge {
  inFlight: number;
  streams: number;
  refused: number;
}

/**
 * Bounded work (IOTP §4.5.2, transient errors under overload): past the bound
 * a call is refused at once with RESOURCE_EXHAUSTED and a retry hint, before
 * any work is done, so nothing accepted is ever dropped and nothing queues
 * without bound.
 */
export function admissionInterceptor(services: readonly DescService[], limits: AdmissionLimits, gauge: AdmissionGauge): Interceptor {
  const own = new Set(services.map((s) => s.typeName));
  return (next) => async (req) => {
    if (!own.has(req.service.typeName)) return next(req);
    const streaming = req.method.methodKind !== "unary";
    const [used, limit] = streaming ? [gauge.streams, limits.maxStreams] : [gauge.inFlight, limits.maxInFlight];
    if (used >= limit) {
      gauge.refused += 1;
      // Jitter spreads the retries of many refused clients.
      const hint = Math.round(limits.retryHintMs * (1 + Math.random()));
      throw transientError(
        `the server is busy (${used} ${streaming ? "open streams" : "calls in progress"}, limit ${limit}); retry in ${hint} ms`,
        Code.ResourceExhausted,
        "OVERLOADED",
        hint,
      );
    }
    if (!streaming) {
      gauge.inFlight += 1;
      try {
        return await next(req);
      } finally {
        gauge.inFlight -= 1;
      }
    }
    gauge.streams += 1;
    let released = false;
    const release = (): void => {
      if (!released) gauge.streams -= 1;
      released = true;
    };
    req.signal.addEventListener("abort", release, { once: true });
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: counted(res.message, release) };
    } catch (err) {
      release();
      throw err;
    }
  };
}

async function* counted<T>(messages: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    release();
  }
}
