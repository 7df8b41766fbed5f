import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import type { HealthState } from "../rpc/index.js";
import type { Logger } from "../runtime/index.js";

/** The health service name that says only that the process answers (a liveness probe). */
export const LIVENESS_SERVICE = "liveness";

/** What a role's readiness depends on. */
export interface ReadinessProbes {
  /** A cheap operation on the role's store. */
  store(): Promise<unknown>;
  /** A call to the role below that any answer settles; absent for the bottom role. */
  below?(signal: AbortSignal, timeoutMs: number): Promise<unknown>;
}

export interface ReadinessOptions {
  /** How often to probe. */
  probeMs: number;
  /** A probe not answered within this long failed. */
  timeoutMs: number;
  /** How long the role below may stay unreachable before the role stops serving. */
  belowUnreachableMs: number;
}

/** Failures of the probe below that mean nobody answered; any other answer is an answer. */
const UNREACHABLE = new Set<Code>([Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Aborted, Code.Unknown]);

/**
 * Health that tells the truth: the role's services (and "") are SERVING while
 * its store answers a probe in time and the role below has answered within
 * `belowUnreachableMs`, NOT_SERVING otherwise, and SERVING again by itself
 * once both answer. One probe round at a time; a store probe still hanging
 * from an earlier round is not doubled, it counts as failing.
 */
export class Readiness {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private storeProbe: Promise<boolean> | undefined;
  private belowAnsweredAt: number = Date.now();
  private ready = true;
  private stopped = false;

  constructor(
    private readonly health: HealthState,
    private readonly services: readonly string[],
    private readonly probes: ReadinessProbes,
    private readonly o: ReadinessOptions,
    private readonly log: Logger,
  ) {}

  /** Marks the role serving and probes every `probeMs` until stop(). */
  start(): void {
    this.publish(true);
    this.health.set(LIVENESS_SERVICE, "serving");
    this.timer = setInterval(() => void this.check(), this.o.probeMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.stopped = true;
  }

  /** One probe round (the timer runs them; tests may too). */
  check(now = Date.now()): Promise<void> {
    this.round ??= this.probe(now).finally(() => (this.round = undefined));
    return this.round;
  }

  private async probe(now: number): Promise<void> {
    const [storeOk, belowOk] = await Promise.all([this.probeStore(), this.probeBelow()]);
    if (belowOk) this.belowAnsweredAt = Math.max(this.belowAnsweredAt, now);
    const belowSilentMs = now - this.belowAnsweredAt;
    const belowDown = belowSilentMs >= this.o.belowUnreachableMs;
    if (this.stopped) return;
    const ready = storeOk && !belowDown;
    if (ready === this.ready) return;
    if (ready) this.log.info("ready again: the store and the role below answer");
    else
      this.log.warn(
        { storeAnswers: storeOk, roleBelowSilentMs: this.probes.below === undefined ? undefined : belowSilentMs },
        storeOk ? "not ready: the role below does not answer" : "not ready: the store does not answer",
      );
    this.publish(ready);
  }

  private probeStore(): Promise<boolean> {
    this.storeProbe ??= this.probes.store().then(
      () => true,
      () => false,
    );
    const pending = this.storeProbe;
    void pending.finally(() => {
      if (this.storeProbe === pending) this.storeProbe = undefined;
    });
    return withTimeout(pending, this.o.timeoutMs, false);
  }

  private async probeBelow(): Promise<boolean> {
    if (this.probes.below === undefined) return true;
    try {
      await this.probes.below(AbortSignal.timeout(this.o.timeoutMs), this.o.timeoutMs);
      return true;
    } catch (err) {
      return !UNREACHABLE.has(ConnectError.from(err).code);
    }
  }

  private publish(ready: boolean): void {
    this.ready = ready;
    const status = ready ? "serving" : "not_serving";
    for (const service of this.services) this.health.set(service, status);
    this.health.set("", status);
  }
}

/** What readiness reads of a role's server spec (ServerSpec has it). */
export interface ReadinessSubject {
  services: readonly DescService[];
  probes?: ReadinessProbes | undefined;
  serverRole: { healthProbeMs: number; healthProbeTimeoutMs: number; belowUnreachableMs: number };
  log: Logger;
}

/** The readiness of a role's services, probed as configured (HEALTH_PROBE_MS, HEALTH_PROBE_TIMEOUT_MS, ROLE_BELOW_UNREACHABLE_MS). */
export function roleReadiness(health: HealthState, spec: ReadinessSubject): Readiness {
  const r = spec.serverRole;
  return new Readiness(
    health,
    spec.services.map((s) => s.typeName),
    spec.probes ?? { store: () => Promise.resolve() },
    { probeMs: r.healthProbeMs, timeoutMs: r.healthProbeTimeoutMs, belowUnreachableMs: r.belowUnreachableMs },
    spec.log,
  );
}

/** A probe of the role below: health Check of its whole server ("" service), sent once. */
export function probeBelow(transport: Transport): NonNullable<ReadinessProbes["below"]> {
  const health = createClient(Health, transport);
  return (signal, timeoutMs) => health.check({ service: "" }, { signal, timeoutMs });
}

/** `promise`'s value, or `fallback` if it takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    void promise.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
