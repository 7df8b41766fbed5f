import { context, propagation, trace, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

/** Spans of every role come from this tracer; it is a no-op until startTracing registers a provider. */
export const tracer: Tracer = trace.getTracer("emission-mesh");

let provider: NodeTracerProvider | undefined;

/**
 * Whether spans are recorded in this process. Everything that traces asks
 * this first, so with tracing off a call costs one boolean test.
 */
export function tracingOn(): boolean {
  return provider !== undefined;
}

/** Standard OpenTelemetry settings, as config.ts reads them ("" when unset). */
export interface TracingSettings {
  /** OTEL_TRACES_EXPORTER: "otlp", "console" or "none"; unset: "otlp" when an OTLP endpoint is set, else off. */
  tracesExporter: string;
  otlpEndpoint: string;
  otlpTracesEndpoint: string;
  /** OTEL_SERVICE_NAME; unset: the program's own name. */
  serviceName: string;
}

/**
 * Tracing as the standard OTEL_* settings ask, named `service` unless
 * OTEL_SERVICE_NAME says otherwise; undefined (no tracing, nearly no cost)
 * when none is set.
 */
export function startConfiguredTracing(service: string, s: TracingSettings): Tracing | undefined {
  const exporter = exporterFor(s);
  return exporter === undefined ? undefined : startTracing(s.serviceName === "" ? service : s.serviceName, exporter);
}

/** The exporter the settings ask for, or undefined when tracing is off. */
function exporterFor(s: TracingSettings): SpanExporter | undefined {
  const endpoint = s.otlpTracesEndpoint === "" ? s.otlpEndpoint : s.otlpTracesEndpoint;
  const kind = s.tracesExporter === "" ? (endpoint === "" ? "none" : "otlp") : s.tracesExporter;
  // The OTLP exporter reads the rest of OTEL_EXPORTER_OTLP_* (endpoint, headers, compression) itself.
  if (kind === "otlp") return new OTLPTraceExporter();
  if (kind === "console") return new ConsoleSpanExporter();
  if (kind === "none") return undefined;
  throw new Error(`OTEL_TRACES_EXPORTER=${JSON.stringify(s.tracesExporter)}: expected otlp, console or none`);
}

export interface Tracing {
  /** Sends what is buffered and unregisters the provider. */
  stop(): Promise<void>;
}

/**
 * Registers a tracer provider for this process: W3C traceparent
 * propagation, async-context tracking, spans batched to `exporter`
 * (`immediate`: each span exported as it ends, for tests). One per process;
 * a second call while one runs returns undefined.
 */
export function startTracing(serviceName: string, exporter: SpanExporter, immediate = false): Tracing | undefined {
  if (provider !== undefined) return undefined;
  const p = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [immediate ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  p.register({ propagator: new W3CTraceContextPropagator() });
  provider = p;
  return {
    async stop() {
      if (provider !== p) return;
      provider = undefined;
      await p.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
