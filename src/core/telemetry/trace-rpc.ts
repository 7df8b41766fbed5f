import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamResponse, type Transport } from "@connectrpc/connect";
import { type Context, context, propagation, ROOT_CONTEXT, type Span, SpanKind, trace } from "@opentelemetry/api";
import { REQUEST_ID_HEADER } from "../rpc/index.js";
import { withLogFields } from "../runtime/index.js";
import { recordFailure } from "./spans.js";
import { tracer, tracingOn } from "./tracing.js";

const headerGetter = {
  keys: (h: Headers) => [...h.keys()],
  get: (h: Headers, key: string) => h.get(key) ?? undefined,
};

const headerSetter = { set: (h: Headers, key: string, value: string) => h.set(key, value) };

function rpcAttributes(method: DescMethod, requestId: string | null) {
  return {
    "rpc.system": "grpc",
    "rpc.service": method.parent.typeName,
    "rpc.method": method.name,
    ...(requestId === null ? {} : { "emission.request_id": requestId }),
  };
}

/**
 * Server side of tracing: every call is a SERVER span, a child of the
 * caller's span when the metadata carries a W3C traceparent, ended with the
 * call's gRPC code (a stream's when it ends). Log lines written while the
 * call runs carry its request id, and its trace id when tracing is on.
 */
export function serverTraceInterceptor(): Interceptor {
  return (next) => async (req) => {
    const requestId = req.header.get(REQUEST_ID_HEADER);
    const log = requestId === null ? {} : { requestId };
    if (!tracingOn()) return withLogFields(log, () => next(req));
    const parent = propagation.extract(ROOT_CONTEXT, req.header, headerGetter);
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      { kind: SpanKind.SERVER, attributes: rpcAttributes(req.method, requestId) },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    const run = <T>(fn: () => T): T => context.with(ctx, () => withLogFields({ ...log, traceId: span.spanContext().traceId }, fn));
    try {
      const res = await run(() => next(req));
      if (!res.stream) {
        ended(span);
        return res;
      }
      const message = spanning(res.message, run, span);
      // The caller went away: nobody may read the stream to its end.
      req.signal.addEventListener("abort", () => message.close(new ConnectError("the caller cancelled the stream", Code.Canceled)), {
        once: true,
      });
      return { ...res, message };
    } catch (err) {
      ended(span, err);
      throw err;
    }
  };
}

/**
 * Client side of tracing, around a transport (so it also wraps the
 * in-memory transports of tests): every attempt is a CLIENT span whose
 * traceparent goes out in the metadata.
 */
export function tracedTransport(inner: Transport): Transport {
  const start = (method: DescMethod, header: ConstructorParameters<typeof Headers>[0]): { span: Span; ctx: Context; headers: Headers } => {
    const headers = new Headers(header);
    const span = tracer.startSpan(`${method.parent.typeName}/${method.name}`, {
      kind: SpanKind.CLIENT,
      attributes: rpcAttributes(method, headers.get(REQUEST_ID_HEADER)),
    });
    const ctx = trace.setSpan(context.active(), span);
    propagation.inject(ctx, headers, headerSetter);
    return { span, ctx, headers };
  };
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      if (!tracingOn()) return inner.unary(method, signal, timeoutMs, header, input, contextValues);
      const { span, ctx, headers } = start(method, header);
      try {
        const res = await context.with(ctx, () => inner.unary(method, signal, timeoutMs, headers, input, contextValues));
        ended(span);
        return res;
      } catch (err) {
        ended(span, err);
        throw err;
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      if (!tracingOn()) return inner.stream(method, signal, timeoutMs, header, input, contextValues);
      const { span, ctx, headers } = start(method, header);
      try {
        const res = await context.with(ctx, () => inner.stream(method, signal, timeoutMs, headers, input, contextValues));
        const message = spanning(res.message, (fn) => context.with(ctx, fn), span);
        // A reader that stops reading (connect's client iterator has no return()) ends the call by aborting it.
        signal?.addEventListener("abort", () => message.close(), { once: true });
        return { ...res, message } as StreamResponse<typeof res.method.input, typeof res.method.output>;
      } catch (err) {
        ended(span, err);
        throw err;
      }
    },
  };
}

function ended(span: Span, err?: unknown): void {
  if (err === undefined) span.setAttribute("rpc.grpc.status_code", 0);
  else recordFailure(span, err);
  span.end();
}

/**
 * A stream's messages, each taken inside the call's context; the span ends
 * with the stream, or at close(): the client stopped reading and aborted it.
 */
function spanning<T>(
  messages: AsyncIterable<T>,
  run: <R>(fn: () => R) => R,
  span: Span,
): AsyncIterable<T> & { close(err?: unknown): void } {
  let open = true;
  const end = (err?: unknown): void => {
    if (!open) return;
    open = false;
    ended(span, err);
  };
  return {
    close(err?: unknown) {
      if (!open) return;
      if (err !== undefined) return end(err);
      open = false;
      span.setAttribute("emission.stream.closed_by_client", true);
      span.end();
    },
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await run(() => it.next());
            if (r.done === true) end();
            return r;
          } catch (err) {
            end(err);
            throw err;
          }
        },
        async return(value?: unknown) {
          // The reader stopped early: the stream was cancelled.
          end(new ConnectError("stream cancelled", Code.Canceled));
          return it.return === undefined
            ? { done: true as const, value: value as T }
            : run(() => it.return?.(value) as Promise<IteratorResult<T>>);
        },
      };
    },
  };
}
