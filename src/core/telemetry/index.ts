/**
 * What an operator sees: OpenTelemetry traces across the hops (server and
 * client spans, seed-step spans, background work in the order's trace) and
 * each role's Prometheus metrics on its own HTTP listener.
 */
export { type AdmissionCounts, MeshMetrics } from "./mesh-metrics.js";
export { metricsInterceptor } from "./metrics-interceptor.js";
export { type MetricsServer, serveMetrics } from "./metrics-server.js";
export {
  annotateCall,
  currentTraceparent,
  detached,
  inOrderTrace,
  inSpan,
  recordReplay,
  TRACEPARENT,
  type WorkFields,
  withTrace,
} from "./spans.js";
export { statusCounts } from "./status-counts.js";
export { serverTraceInterceptor, tracedTransport } from "./trace-rpc.js";
export { startConfiguredTracing, startTracing, type Tracing, type TracingSettings, tracer, tracingOn } from "./tracing.js";
