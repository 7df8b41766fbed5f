import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";
import { meshError } from "./error-info.js";
import { abortedCallError } from "./aborted-call-error.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

/** A status as the enum or by its lower-case name (for config and call sites). */
export type HealthStatus = ServingStatus | "unknown" | "serving" | "not_serving";

export type HealthListener = (status: ServingStatus) => void;

/** The spec caps List at this many services (RESOURCE_EXHAUSTED beyond). */
const LIST_LIMIT = 100;

const statusByName = {
  unknown: ServingStatus.UNKNOWN,
  serving: ServingStatus.SERVING,
  not_serving: ServingStatus.NOT_SERVING,
} as const;

/**
 * Serving status per service name ("" = the whole server), with change
 * notification for Watch. After shutdown() every service reads NOT_SERVING
 * and later set() calls are ignored, so a draining server stays unhealthy.
 */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Map<string, Set<HealthListener>>();
  private readonly closeListeners = new Set<() => void>();
  private closed = false;

  set(service: string, status: HealthStatus): void {
    if (this.closed) return;
    this.update(service, typeof status === "string" ? statusByName[status] : status);
  }

  /** undefined for a service never set. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** A copy of every known service's status. */
  entries(): Map<string, ServingStatus> {
    return new Map(this.statuses);
  }

  get isShutdown(): boolean {
    return this.closed;
  }

  /** Marks every service NOT_SERVING for good and ends open watches. */
  shutdown(): void {
    if (this.closed) return;
    for (const service of this.statuses.keys()) this.update(service, ServingStatus.NOT_SERVING);
    this.closed = true;
    for (const onClose of [...this.closeListeners]) onClose();
  }

  /** Calls `listener` on every change of `service`; returns the unsubscribe. */
  watch(service: string, listener: HealthListener): () => void {
    const set = this.listeners.get(service) ?? new Set();
    this.listeners.set(service, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      // Identity check: a repeated call must not drop a newer set.
      if (set.size === 0 && this.listeners.get(service) === set) this.listeners.delete(service);
    };
  }

  /** Calls `listener` once at shutdown; returns the unsubscribe. */
  onShutdown(listener: () => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** How many watchers are registered (for leak checks in tests). */
  get listenerCount(): number {
    let n = this.closeListeners.size;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  private update(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const listener of [...(this.listeners.get(service) ?? [])]) listener(status);
  }
}

/** Serves grpc.health.v1.Health (Check, List, Watch) from `state`. */
export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw meshError(`unknown service "${req.service.slice(0, 200)}"`, Code.NotFound, "SERVICE_UNKNOWN");
      return { status };
    },
    list() {
      const entries = state.entries();
      if (entries.size > LIST_LIMIT) {
        throw new ConnectError(`more than ${LIST_LIMIT} services`, Code.ResourceExhausted);
      }
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, status] of entries) statuses[service] = create(HealthCheckResponseSchema, { status });
      return { statuses };
    },
    watch(req, ctx) {
      return watchStatus(state, req.service, ctx.signal);
    },
  });
}

/**
 * The current status, then each change (only the latest if several land
 * between two sends, as the spec allows). A watch is never complete, so it
 * never ends OK: a deadline or cancel ends it with DEADLINE_EXCEEDED or
 * CANCELLED, shutdown (after NOT_SERVING was sent) with UNAVAILABLE, as a
 * client sees a grpc-go server stop, so its health checker looks elsewhere.
 */
async function* watchStatus(state: HealthState, service: string, signal: AbortSignal): AsyncGenerator<{ status: ServingStatus }> {
  let pending: ServingStatus | undefined = state.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
  let wake: (() => void) | undefined;
  const poke = (): void => wake?.();
  const unsubscribe = subscribe(
    state,
    service,
    signal,
    (status) => {
      pending = status;
      poke();
    },
    poke,
  );
  try {
    let sent: ServingStatus | undefined;
    for (;;) {
      if (signal.aborted) throw abortedCallError(signal);
      if (pending !== undefined) {
        const status: ServingStatus = pending;
        pending = undefined;
        if (status !== sent) {
          sent = status;
          yield { status };
        }
        continue;
      }
      if (state.isShutdown) throw new ConnectError("the server is shutting down", Code.Unavailable);
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    unsubscribe();
  }
}

/**
 * Listens for changes, shutdown and cancel. Cancel unsubscribes at once:
 * a generator parked at a yield is never resumed by some transports, so
 * its finally block alone could leak the listeners.
 */
function subscribe(state: HealthState, service: string, signal: AbortSignal, onChange: HealthListener, onEnd: () => void): () => void {
  const unwatch = state.watch(service, onChange);
  const unclose = state.onShutdown(onEnd);
  const onAbort = (): void => {
    unsubscribe();
    onEnd();
  };
  const unsubscribe = (): void => {
    unwatch();
    unclose();
    signal.removeEventListener("abort", onAbort);
  };
  signal.addEventListener("abort", onAbort);
  return unsubscribe;
}
