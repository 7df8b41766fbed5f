import type { DescService } from "@bufbuild/protobuf";
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { ConnectRouter, Transport } from "@connectrpc/connect";
import { MemoryStore } from "../../store/memory-store.js";
import { MongoStore } from "../../store/mongo-store.js";
import type { Store } from "../../store/store.js";
import {
  type AccessPolicy,
  InstanceLiveness,
  Journal,
  type LeaseContext,
  RefusalTally,
  registerJournal,
  ReplyStore,
  sweepEvery,
  TakeFences,
} from "../iotp/index.js";
import { type MeshConfig, urlOf } from "../config.js";
import type { ServerSpec } from "./grpc-server.js";
import { probeBelow } from "./readiness.js";
import { createLogger, type Logger } from "../runtime/index.js";
import { MeshMetrics, type MetricsServer, serveMetrics, startConfiguredTracing } from "../telemetry/index.js";
import { measuredStore } from "../../store/measured-store.js";
import { JournalService } from "../../gen/emission/journal/v1/journal_pb.js";

/** What every server role has, whatever it does: store, logs, journal, stored replies. */
export interface RoleBase {
  config: MeshConfig;
  log: Logger;
  store: Store;
  journal: Journal;
  replies: ReplyStore;
  /** Refusals counted per cause, journaled in aggregate (and read by metrics). */
  refusals: RefusalTally;
  /** This instance's heartbeat in the role's store: who holds claims and leases, and whether they still live. */
  liveness: InstanceLiveness;
  /** What the role's work leases need: who this instance is, the take fences, the lease time. */
  lease: LeaseContext;
  /** The role's Prometheus metrics (served at METRICS_ADDR when set). */
  metrics: MeshMetrics;
  /** Where the metrics are served, when they are. */
  metricsServer?: MetricsServer | undefined;
  /** Stops the reply sweeper and closes a store the role opened itself. */
  close(): Promise<void>;
}

export interface RoleBaseOptions {
  role: string;
  config: MeshConfig;
  store?: Store | undefined;
  log?: Logger | undefined;
  /** The role's metrics registry; a new one by default (one per role, also when roles share a process). */
  registry?: Registry | undefined;
}

export async function openRoleBase(o: RoleBaseOptions): Promise<RoleBase> {
  const log = o.log ?? createLogger(o.role, o.config.logLevel);
  if (o.config.devTokens) log.warn("MESH_TOKENS is not set: the development tokens (dev-apcs, dev-oms, ...) are accepted");
  const metrics = new MeshMetrics(o.role, o.registry);
  const opened = o.store ?? (await openStore(o.role, o.config));
  // Every store operation of the role is timed, once, here: only when the metrics are served, as it costs on every operation.
  const store =
    o.config.telemetry.metricsAddr === undefined
      ? opened
      : measuredStore(opened, (collection, operation, seconds, failed) => {
          metrics.storeSeconds.observe({ collection, operation }, seconds);
          if (failed) metrics.storeErrors.inc({ collection, operation });
        });
  const tracing = startConfiguredTracing(o.role, o.config.telemetry);
  const metricsServer = await serveRoleMetrics(metrics, o.config, log);
  const { replyTtlMs, replyLeaseMs, instanceHeartbeatMs, instanceDeadMs } = o.config.serverRole;
  const liveness = await InstanceLiveness.start(store, { heartbeatMs: instanceHeartbeatMs, deadMs: instanceDeadMs }, log);
  const lease: LeaseContext = {
    liveness,
    fences: await TakeFences.open(store, liveness),
    ms: o.config.serverRole.workLeaseMs,
    log,
    tookOver: () => metrics.leaseTakeovers.inc(),
  };
  const r = o.config.retention;
  const replies = await ReplyStore.open(store, replyTtlMs, replyLeaseMs, liveness, {
    perParticipant: r.replyMaxPerParticipant,
    perRole: r.replyMaxPerRole,
  });
  const journal = await Journal.open(store, o.role, log, { retentionMs: r.journalRetentionMs, maxPerCaller: r.journalMaxPerCaller });
  const refusals = new RefusalTally((record) => journal.record(record), r.refusalWindowMs);
  refusals.start();
  metrics.watchRefusals(() => refusals.snapshot());
  // Stored replies, journal entries and stale take fences are forgotten after their time (no TTL index needed).
  const stopSweeps = [
    sweepEvery(Math.min(replyTtlMs, 60_000), () => replies.sweep(), log, "reply"),
    sweepEvery(Math.min(r.journalRetentionMs, 60_000), () => journal.sweep(), log, "journal"),
    sweepEvery(60_000, () => lease.fences.sweep(), log, "take fence"),
  ];
  return {
    config: o.config,
    log,
    store,
    journal,
    replies,
    refusals,
    liveness,
    lease,
    metrics,
    metricsServer,
    async close() {
      for (const stop of stopSweeps) stop();
      // Outcomes still being stored land before the instance says it stopped (which frees its claims).
      await replies.settled();
      await refusals.stop();
      await liveness.stop().catch((err: unknown) => log.warn({ err }, "could not remove the instance record"));
      if (o.store === undefined) await store.close();
      await metricsServer?.close();
      await tracing?.stop().catch((err: unknown) => log.warn({ err }, "could not flush the last spans"));
    },
  };
}

/** The role's metrics on their own listener, when METRICS_ADDR asks for one. */
async function serveRoleMetrics(metrics: MeshMetrics, config: MeshConfig, log: Logger): Promise<MetricsServer | undefined> {
  const address = config.telemetry.metricsAddr;
  if (address === undefined) return undefined;
  const server = await serveMetrics(metrics.registry, address, log);
  metrics.servedAt = `${urlOf({ host: address.host, port: server.port })}/metrics`;
  return server;
}

/** MongoDB when configured (a database per role), else the embedded store. */
async function openStore(role: string, config: MeshConfig): Promise<Store> {
  if (config.mongodb === undefined) return new MemoryStore();
  const db = `${config.mongodb.databasePrefix}${role}`;
  return MongoStore.connect(config.mongodb.uri, db, `${db}${config.mongodb.bulkDatabaseSuffix}`);
}

/**
 * The server spec of a role: its services plus the journal, behind the shared
 * interceptors; ready while its store answers and, given `below` (the
 * transport to the role below), while that role answers.
 */
export function roleSpec(
  base: RoleBase,
  services: DescService[],
  policy: AccessPolicy,
  routes: (router: ConnectRouter) => void,
  below?: Transport,
): ServerSpec {
  return {
    probes: { store: () => base.liveness.probe(), ...(below === undefined ? {} : { below: probeBelow(below) }) },
    listening: (host, port) => base.liveness.listensAt(`${hostname()}/${host}:${port}`),
    log: base.log,
    services: [...services, JournalService],
    policy,
    tokens: base.config.tokens,
    replies: base.replies,
    journal: base.journal,
    refusals: base.refusals,
    streams: base.config.streams,
    serverRole: base.config.serverRole,
    metrics: base.metrics,
    routes(router) {
      routes(router);
      registerJournal(router, base.journal);
    },
  };
}
