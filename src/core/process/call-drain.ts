import { Code, type ConnectError, type Interceptor } from "@connectrpc/connect";
import { transientError } from "../rpc/index.js";

/** Never refused: a probe must hear NOT_SERVING from the draining server itself. */
const HEALTH_SERVICE = "grpc.health.v1.Health";

interface Call {
  readonly abort: AbortController;
  readonly streaming: boolean;
}

/**
 * The RPC side of a graceful shutdown. Every call runs under a signal of its
 * own that the drain can abort; once drain() is called, new calls (health
 * checks aside) are refused with UNAVAILABLE and a retry hint, open streams
 * end at once with UNAVAILABLE so their clients resume at another instance,
 * and calls in progress run on until they finish or cut() ends them.
 */
export class CallDrain {
  private readonly calls = new Set<Call>();
  private readonly idleWaiters = new Set<() => void>();
  private draining = false;

  constructor(private readonly retryHintMs: number) {}

  get isDraining(): boolean {
    return this.draining;
  }

  /** Calls being worked on (unary and streams). */
  get inProgress(): number {
    return this.calls.size;
  }

  interceptor(): Interceptor {
    return (next) => async (req) => {
      if (req.service.typeName === HEALTH_SERVICE) return next(req);
      if (this.draining) throw this.shuttingDown("the server is shutting down: call another instance");
      const call: Call = { abort: new AbortController(), streaming: req.stream };
      const forward = (): void => {
        call.abort.abort(req.signal.reason);
        // A stream the client left may never be resumed to run its finally: it is over for the drain.
        if (call.streaming) done();
      };
      const done = (): void => {
        req.signal.removeEventListener("abort", forward);
        if (this.calls.delete(call) && this.calls.size === 0) for (const wake of [...this.idleWaiters]) wake();
      };
      if (req.signal.aborted) forward();
      else req.signal.addEventListener("abort", forward, { once: true });
      this.calls.add(call);
      try {
        // The handler and every inner interceptor see the call's own signal.
        const res = await next({ ...req, signal: call.abort.signal });
        if (!res.stream) {
          done();
          return res;
        }
        return { ...res, message: finishing(res.message, done) };
      } catch (err) {
        done();
        throw err;
      }
    };
  }

  /** Refuses new calls from now on and ends open streams; returns how many streams it ended. */
  drain(): number {
    this.draining = true;
    let ended = 0;
    for (const call of this.calls) {
      if (!call.streaming || call.abort.signal.aborted) continue;
      call.abort.abort(this.shuttingDown("the server is shutting down: resume the stream at another instance"));
      ended += 1;
    }
    return ended;
  }

  /** Ends every call still in progress with UNAVAILABLE (the grace period is over). */
  cut(): number {
    let cut = 0;
    for (const call of this.calls) {
      if (call.abort.signal.aborted) continue;
      call.abort.abort(this.shuttingDown("the server shut down before the call finished: send it again"));
      cut += 1;
    }
    return cut;
  }

  /** Resolves true once no call is in progress, or false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (idle: boolean): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(idle);
      };
      const wake = (): void => finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.idleWaiters.add(wake);
    });
  }

  private shuttingDown(message: string): ConnectError {
    // Jitter spreads the retries of many refused clients, as admission control does.
    return transientError(message, Code.Unavailable, "SHUTTING_DOWN", Math.round(this.retryHintMs * (1 + Math.random())));
  }
}

async function* finishing<T>(messages: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    done();
  }
}
