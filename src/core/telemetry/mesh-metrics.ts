import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** One cause's refusals since start-up, as the refusal tally reports them. */
export interface RefusalTotal {
  reason: string;
  /** gRPC code name. */
  code: string;
  total: number;
}

/** Calls being worked on and refused, as admission control counts them (AdmissionGauge). */
export interface AdmissionCounts {
  inFlight: number;
  streams: number;
  refused: number;
}

const RPC_LABELS = ["grpc_service", "grpc_method", "grpc_type"] as const;
type RpcLabel = (typeof RPC_LABELS)[number];
const STORE_LABELS = ["collection", "operation"] as const;

/** Latency buckets from a fast in-memory call to a slow database round trip (seconds). */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Readiness-estimate error: codes ready later (positive) or earlier (negative) than step 6 said, in seconds. */
const ESTIMATE_ERROR = [-60, -10, -5, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 5, 10, 60];

/**
 * The Prometheus metrics of one role, in its own registry (several roles
 * share a process in tests). Names follow Prometheus conventions: units in
 * the name, `_total` on counters, and labels with a bounded set of values
 * (method, code, status, collection: never an order id).
 */
export class MeshMetrics {
  readonly registry: Registry;
  /** Admission control's live counts, read at every scrape. */
  readonly admission: AdmissionCounts = { inFlight: 0, streams: 0, refused: 0 };
  /** Where the registry is served (http://host:port/metrics), once it is. */
  servedAt: string | undefined;
  readonly rpcStarted: Counter<RpcLabel>;
  readonly rpcHandled: Counter<RpcLabel | "grpc_code">;
  readonly rpcSeconds: Histogram<RpcLabel>;
  readonly replays: Counter<"grpc_method" | "outcome">;
  readonly mismatches: Counter<"grpc_method">;
  readonly codesEmitted: Counter;
  readonly codesStored: Counter;
  readonly codesDelivered: Counter;
  readonly readinessError: Histogram;
  readonly storeSeconds: Histogram<(typeof STORE_LABELS)[number]>;
  readonly storeErrors: Counter<(typeof STORE_LABELS)[number]>;
  readonly leaseTakeovers: Counter;
  private backlog: () => number = () => 0;
  private outbox: () => number = () => 0;
  private orders: () => Promise<Record<string, number>> = async () => ({});
  private refusals: () => readonly RefusalTotal[] = () => [];

  constructor(role: string, registry = new Registry()) {
    this.registry = registry;
    registry.setDefaultLabels({ role });
    const registers = [registry];
    this.rpcStarted = new Counter({
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames: RPC_LABELS,
      registers,
    });
    this.rpcHandled = new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by gRPC status code.",
      labelNames: [...RPC_LABELS, "grpc_code"],
      registers,
    });
    this.rpcSeconds = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time from the start of an RPC to its end (a stream's whole life).",
      labelNames: RPC_LABELS,
      buckets: SECONDS,
      registers,
    });
    const admission = this.admission;
    new Gauge({
      name: "emission_mesh_calls_in_flight",
      help: "Unary calls being worked on (admission control).",
      registers,
      collect() {
        this.set(admission.inFlight);
      },
    });
    new Gauge({
      name: "emission_mesh_streams_open",
      help: "Server streams open (code streams, watches).",
      registers,
      collect() {
        this.set(admission.streams);
      },
    });
    new Counter({
      name: "emission_mesh_admission_refused_total",
      help: "Calls refused with RESOURCE_EXHAUSTED by admission control.",
      registers,
      collect() {
        this.reset();
        this.inc(admission.refused);
      },
    });
    this.replays = new Counter({
      name: "emission_mesh_replays_total",
      help: "Duplicates (same x-request-id) answered from a stored reply.",
      labelNames: ["grpc_method", "outcome"],
      registers,
    });
    this.mismatches = new Counter({
      name: "emission_mesh_request_id_mismatches_total",
      help: "Requests refused for reusing an x-request-id with another payload.",
      labelNames: ["grpc_method"],
      registers,
    });
    this.codesEmitted = new Counter({
      name: "emission_mesh_codes_emitted_total",
      help: "Codes emitted (Emission server, step 6.1).",
      registers,
    });
    this.codesStored = new Counter({
      name: "emission_mesh_codes_stored_total",
      help: "Codes received from the role below and stored (steps 10.1, 14.1).",
      registers,
    });
    this.codesDelivered = new Counter({
      name: "emission_mesh_codes_delivered_total",
      help: "Codes sent to the role above on code streams.",
      registers,
    });
    this.readinessError = new Histogram({
      name: "emission_mesh_readiness_estimate_error_seconds",
      help: "When an order's last code was emitted minus the readiness time step 6 gave (late is positive).",
      buckets: ESTIMATE_ERROR,
      registers,
    });
    this.storeSeconds = new Histogram({
      name: "emission_mesh_store_operation_seconds",
      help: "Store operations, by collection and operation.",
      labelNames: STORE_LABELS,
      buckets: SECONDS,
      registers,
    });
    this.storeErrors = new Counter({
      name: "emission_mesh_store_errors_total",
      help: "Store operations that failed (a duplicate key is an answer, not a failure).",
      labelNames: STORE_LABELS,
      registers,
    });
    this.leaseTakeovers = new Counter({
      name: "emission_mesh_lease_takeovers_total",
      help: "Background work (emission, filling) taken over from a dead instance.",
      registers,
    });
    this.sourceGauges(registers);
  }

  /** Reads the emitter's backlog at every scrape. */
  watchBacklog(codes: () => number): void {
    this.backlog = codes;
  }

  /** Reads the messages waiting to go to the role below at every scrape. */
  watchOutbox(depth: () => number): void {
    this.outbox = depth;
  }

  /** Reads the refusal tally (auth, malformed headers, overload, stream budgets, quotas) at every scrape. */
  watchRefusals(totals: () => readonly RefusalTotal[]): void {
    this.refusals = totals;
  }

  /** Counts the role's orders by status at every scrape. */
  watchOrders(byStatus: () => Promise<Record<string, number>>): void {
    this.orders = byStatus;
  }

  private sourceGauges(registers: Registry[]): void {
    const self = (): this => this;
    new Gauge({
      name: "emission_mesh_emission_backlog_codes",
      help: "Codes queued or being emitted: the work ahead of a new order.",
      registers,
      collect() {
        this.set(self().backlog());
      },
    });
    new Gauge({
      name: "emission_mesh_outbox_messages",
      help: "Closes and cancels waiting to be delivered to the role below.",
      registers,
      collect() {
        this.set(self().outbox());
      },
    });
    new Gauge({
      name: "emission_mesh_orders",
      help: "Orders (Emission server), pools (Registrar) or code arrays (OMS) in the role's store, by status.",
      labelNames: ["status"],
      registers,
      async collect() {
        this.reset();
        for (const [status, n] of Object.entries(await self().orders())) this.set({ status }, n);
      },
    });
    new Counter({
      name: "emission_mesh_refusals_total",
      help: "Calls and streams refused before any work (no or unknown token, malformed request id, overload, stream budget, quota), by reason.",
      labelNames: ["reason", "grpc_code"],
      registers,
      collect() {
        // Totals since start-up, summed over participants (a label per participant would grow with MESH_TOKENS).
        const sums = new Map<string, { reason: string; grpc_code: string; n: number }>();
        for (const t of self().refusals()) {
          const key = `${t.reason}|${t.code}`;
          const s = sums.get(key) ?? { reason: t.reason, grpc_code: t.code, n: 0 };
          s.n += t.total;
          sums.set(key, s);
        }
        this.reset();
        for (const s of sums.values()) this.inc({ reason: s.reason, grpc_code: s.grpc_code }, s.n);
      },
    });
  }
}
