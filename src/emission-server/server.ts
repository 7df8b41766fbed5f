import { BlockStore } from "../core/codes/index.js";
import type { AccessPolicy } from "../core/iotp/index.js";
import { loadConfig, type Address, type MeshConfig } from "../core/config.js";
import { type BuiltRole, isMain, openRoleBase, roleSpec, runMain, type RunningServer, serve } from "../core/process/index.js";
import { type Logger, Notifier } from "../core/runtime/index.js";
import { statusCounts } from "../core/telemetry/index.js";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import type { Store } from "../store/store.js";
import { MemoryStore } from "../store/memory-store.js";
import { type BlockMaker, blockMaker } from "./block-maker.js";
import { Emitter } from "./emitter.js";
import { openEmissionRecords } from "./emission-records.js";
import { emissionServerRoutes } from "./routes.js";
import { openSigningKeys } from "./signing-keys.js";
import type { EmitterFaults } from "./emitter-faults.js";
import { sweepAbandonedOrders } from "./abandoned-orders.js";

export const ROLE = "emission-server";

/** Only the Registrar orders emission; operators may read the journal. */
const POLICY: AccessPolicy = new Map([
  [EmitterService.typeName, ["registrar"]],
  [JournalService.typeName, ["registrar", "admin"]],
]);

export interface EmissionServerOptions {
  config: MeshConfig;
  store?: Store;
  log?: Logger;
  /** Overrides the configured address (tests pass port 0). */
  address?: Address;
  /** Fault injection for tests: where the emitter stops as if the process died. */
  emitterFaults?: EmitterFaults;
  /** Tests: where blocks are signed and encoded, instead of EMISSION_WORKERS worker threads. */
  blockMaker?: BlockMaker;
}

/** Wires the Emission server to its store; serve() or an in-memory transport runs it. */
export async function buildEmissionServer(o: EmissionServerOptions): Promise<BuiltRole> {
  const base = await openRoleBase({ role: ROLE, config: o.config, store: o.store, log: o.log });
  const { config, log, store, journal } = base;
  const db = await openEmissionRecords(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const { signingKeys, activeKeyId } = config.emissionServer;
  const keys = await openSigningKeys({ signingKeys, activeKeyId, store, embedded: store instanceof MemoryStore, log });
  const { metrics } = base;
  const lease = db.orders.lease(base.lease);
  const maker = o.blockMaker ?? blockMaker(config.emissionServer.blockWorkers);
  const emitter = new Emitter({
    db,
    blocks,
    notifier,
    keys,
    rate: config.emissionServer.emissionRate,
    blockSize: config.emissionServer.blockSize,
    log,
    lease,
    instances: () => base.liveness.liveCount(),
    metrics,
    maker,
    ...(o.emitterFaults === undefined ? {} : { faults: o.emitterFaults }),
  });
  metrics.watchBacklog(() => emitter.backlogCodes);
  metrics.watchOrders(statusCounts(OrderStatus, (status) => db.orders.countWithStatus(status)));
  emitter.startResuming(); // orders left pending by a crash, or by an instance that died
  const routes = emissionServerRoutes({
    db,
    blocks,
    notifier,
    emitter,
    journal,
    keys,
    blockSize: config.emissionServer.blockSize,
    maxActiveOrders: config.emissionServer.maxActiveOrders,
    backlog: { sharePercent: config.emissionServer.maxBacklogShare, freeCodes: config.emissionServer.backlogFreeCodes },
    recheckMs: config.recheckMs,
    ...(o.emitterFaults === undefined ? {} : { faults: o.emitterFaults }),
  });
  // A creator is seen dead after instanceDeadMs: looking more often, or at younger intents, finds nothing more.
  const { instanceDeadMs } = config.serverRole;
  const stopSweep = sweepAbandonedOrders({ db, replies: base.replies, log }, instanceDeadMs, instanceDeadMs);
  // The serial registry stays: a serial is never emitted again, whatever happened to its code.
  const stopExpiry = db.orders.expireFinished(blocks, {
    retentionMs: config.serverRole.codeRetentionMs,
    log,
    alsoDrop: (order) => db.serials.dropChunks(order),
  });
  const stopWork = async (): Promise<void> => {
    stopExpiry();
    stopSweep();
    keys.stop();
    await emitter.stop();
    await maker.close();
  };
  return {
    spec: roleSpec(base, [EmitterService], POLICY, routes),
    stopWork,
    async stop() {
      await stopWork();
      await base.close();
    },
  };
}

export async function startEmissionServer(o: EmissionServerOptions): Promise<RunningServer> {
  return serve(await buildEmissionServer(o), o.address ?? o.config.emissionServer.address, o.config.tls);
}

if (isMain(import.meta.url)) {
  runMain(() => startEmissionServer({ config: loadConfig(process.argv, process.env) }));
}
