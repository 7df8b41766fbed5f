import { type Attributes, type Context, context, propagation, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { toConnectError } from "../rpc/index.js";
import { type LogFields, withLogFields } from "../runtime/index.js";
import { tracer, tracingOn } from "./tracing.js";

/** The W3C header that carries a trace from hop to hop, and is kept with an order for its background work. */
export const TRACEPARENT = "traceparent";

/** What a span says about the business work it covers; the same fields go on the log lines written inside it. */
export interface WorkFields {
  orderId?: string;
  participantId?: string;
  requestId?: string;
  /** Seed step, e.g. "5" or "10.1". */
  step?: string;
}

export function attributesOf(f: WorkFields): Attributes {
  const a: Attributes = {};
  if (f.orderId !== undefined && f.orderId !== "") a["emission.order_id"] = f.orderId;
  if (f.participantId !== undefined && f.participantId !== "") a["emission.participant_id"] = f.participantId;
  if (f.requestId !== undefined && f.requestId !== "") a["emission.request_id"] = f.requestId;
  if (f.step !== undefined) a["emission.step"] = f.step;
  return a;
}

/** The traceparent of the work running now, to store with an order; undefined when tracing is off. */
export function currentTraceparent(): string | undefined {
  if (!tracingOn()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier[TRACEPARENT];
}

/** `{ traceparent }` to spread into an order record, or nothing when tracing is off. */
export function withTrace(traceparent: string | undefined): { traceparent?: string } {
  return traceparent === undefined ? {} : { traceparent };
}

/** A context whose parent is the stored traceparent (a fresh trace without one). */
export function contextOf(traceparent: string | undefined): Context {
  if (traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { [TRACEPARENT]: traceparent });
}

/** Marks the span failed with the gRPC code the error maps to (a domain error as the caller will see it). */
export function recordFailure(span: Span, err: unknown): void {
  const e = toConnectError(err);
  span.setAttribute("rpc.grpc.status_code", e.code);
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.rawMessage });
}

/**
 * Runs `fn` as a span named `name` (a seed step: "step 5: check order"),
 * a child of the work running now, with `fields` on the span and on every
 * log line written inside it.
 */
export function inSpan<T>(name: string, fields: WorkFields, fn: () => Promise<T>): Promise<T> {
  return spanUnder(undefined, name, fields, fn, false);
}

/**
 * Background work of an order (emission 6.1, filling 10.1 and 14.1): a
 * span in the order's trace, found from the traceparent stored with the
 * order, so the link holds after a restart or on another instance. The work
 * starts afresh: nothing of the call that happened to start it.
 */
export function inOrderTrace<T>(traceparent: string | undefined, name: string, fields: WorkFields, fn: () => Promise<T>): Promise<T> {
  return spanUnder(contextOf(traceparent), name, fields, fn, true);
}

/** Runs long-lived work (a worker loop) outside the call that started it: no trace, no log fields. */
export function detached<T>(fn: () => T): T {
  return context.with(ROOT_CONTEXT, () => withLogFields({}, fn, true));
}

async function spanUnder<T>(
  parent: Context | undefined,
  name: string,
  fields: WorkFields,
  fn: () => Promise<T>,
  fresh: boolean,
): Promise<T> {
  if (!tracingOn()) return withLogFields(fields, fn, fresh);
  const ctx = parent ?? context.active();
  const span = tracer.startSpan(name, { attributes: attributesOf(fields) }, ctx);
  const log: LogFields = { ...fields, traceId: span.spanContext().traceId };
  try {
    return await context.with(trace.setSpan(ctx, span), () => withLogFields(log, fn, fresh));
  } catch (err) {
    recordFailure(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** A stored reply sent again for a duplicate: a short span in the duplicate's trace. */
export function recordReplay(method: string, outcome: "reply" | "error"): void {
  if (!tracingOn()) return;
  const span = tracer.startSpan(`replay: ${method}`, { attributes: { "emission.replay": true, "emission.replay.outcome": outcome } });
  span.end();
}

/** Adds fields learnt during a call (the caller's participant) to its span. */
export function annotateCall(fields: WorkFields): void {
  if (tracingOn()) trace.getActiveSpan()?.setAttributes(attributesOf(fields));
}
