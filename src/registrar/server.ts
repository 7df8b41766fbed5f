import { createClient, type Transport } from "@connectrpc/connect";
import { type AccessPolicy, DownstreamOutbox, WorkLease } from "../core/iotp/index.js";
import { BackgroundTasks, type Logger, Notifier } from "../core/runtime/index.js";
import { statusCounts } from "../core/telemetry/index.js";
import { BlockStore, expireFinishedOrders } from "../core/codes/index.js";
import { loadConfig, type Address, type MeshConfig } from "../core/config.js";
import {
  type BuiltRole,
  isMain,
  openRoleBase,
  roleSpec,
  runMain,
  type RunningServer,
  serve,
  transportBelow,
} from "../core/process/index.js";
import { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import type { Store } from "../store/store.js";
import { createPoolFiller } from "./pool-filler.js";
import { sendDown } from "./pool-lifecycle.js";
import { openPools } from "./pools.js";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import { registrarRoutes } from "./routes.js";

export const ROLE = "registrar";

/** Only OMS forms pools; operators may read the journal. */
const POLICY: AccessPolicy = new Map([
  [RegistrarService.typeName, ["oms"]],
  [JournalService.typeName, ["oms", "admin"]],
]);

export interface RegistrarOptions {
  config: MeshConfig;
  store?: Store;
  log?: Logger;
  address?: Address;
  /** How to reach the Emission server; by default gRPC to the configured address. */
  downstream?: Transport;
}

/** Wires the Registrar to its store and to the Emission server. */
export async function buildRegistrar(o: RegistrarOptions): Promise<BuiltRole> {
  const base = await openRoleBase({ role: ROLE, config: o.config, store: o.store, log: o.log });
  const { config, log, store, journal } = base;
  const pools = await openPools(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const tasks = new BackgroundTasks(log);
  const { metrics } = base;
  const emitter = createClient(
    EmitterService,
    transportBelow(config, { address: config.emissionServer.address, token: config.registrar.token }, log, o.downstream),
  );
  const filler = createPoolFiller(
    { blocks, notifier, tasks, journal, log, metrics },
    pools,
    emitter,
    new WorkLease(pools, base.liveness, config.serverRole.workLeaseMs, () => metrics.leaseTakeovers.inc()),
  );
  filler.startResuming(); // pools left filling by a crash, or by an instance that died
  const outbox = new DownstreamOutbox(tasks, log);
  metrics.watchOutbox(() => outbox.depth);
  metrics.watchOrders(statusCounts(PoolStatus, (status) => pools.count({ status })));
  const deps = { pools, blocks, emitter, filler, notifier, journal, outbox, recheckMs: config.recheckMs };
  // After a restart: closes and cancels the Emission server has not confirmed go out again.
  for (const pool of await pools.find({ pending: { $in: ["close", "cancel"] } })) void sendDown(deps, pool);
  const routes = registrarRoutes(deps);
  const stopExpiry = expireFinishedOrders(pools, [PoolStatus.CLOSED, PoolStatus.CANCELLED, PoolStatus.REJECTED], blocks, {
    retentionMs: config.serverRole.codeRetentionMs,
    log,
  });
  return {
    spec: roleSpec(base, [RegistrarService], POLICY, routes),
    async stop() {
      stopExpiry();
      filler.stopResuming();
      await tasks.stopAll();
      await base.close();
    },
  };
}

export async function startRegistrar(o: RegistrarOptions): Promise<RunningServer> {
  return serve(await buildRegistrar(o), o.address ?? o.config.registrar.address, o.config.tls);
}

if (isMain(import.meta.url)) {
  runMain(() => startRegistrar({ config: loadConfig(process.argv, process.env) }));
}
