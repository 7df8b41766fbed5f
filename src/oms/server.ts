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
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import type { Store } from "../store/store.js";
import { createArrayFiller } from "./array-filler.js";
import { openCancelMarks, openOrders } from "./orders.js";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { sendDown } from "./order-lifecycle.js";
import { omsRoutes } from "./routes.js";

export const ROLE = "oms";

/** Line controllers place and follow orders; operators may read the journal and the product-group rules. */
const POLICY: AccessPolicy = new Map([
  [OmsService.typeName, ["apcs"]],
  [`${OmsService.typeName}/${OmsService.method.listProductGroups.name}`, ["apcs", "admin"]],
  [JournalService.typeName, ["apcs", "admin"]],
]);

export interface OmsOptions {
  config: MeshConfig;
  store?: Store;
  log?: Logger;
  address?: Address;
  /** How to reach the Registrar; by default gRPC to the configured address. */
  downstream?: Transport;
}

/** Wires OMS to its store and to the Registrar. */
export async function buildOms(o: OmsOptions): Promise<BuiltRole> {
  const base = await openRoleBase({ role: ROLE, config: o.config, store: o.store, log: o.log });
  const { config, log, store, journal } = base;
  const orders = await openOrders(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const tasks = new BackgroundTasks(log);
  const { metrics } = base;
  const registrar = createClient(
    RegistrarService,
    transportBelow(config, { address: config.registrar.address, token: config.oms.token }, log, o.downstream),
  );
  const filler = createArrayFiller(
    { blocks, notifier, tasks, journal, log, metrics },
    orders,
    registrar,
    new WorkLease(orders, base.liveness, config.serverRole.workLeaseMs, () => metrics.leaseTakeovers.inc()),
  );
  filler.startResuming(); // arrays left filling by a crash, or by an instance that died
  const outbox = new DownstreamOutbox(tasks, log);
  metrics.watchOutbox(() => outbox.depth);
  metrics.watchOrders(statusCounts(OrderStatus, (status) => orders.count({ status })));
  const cancelMarks = await openCancelMarks(store);
  const deps = { orders, cancelMarks, blocks, registrar, filler, notifier, journal, outbox, recheckMs: config.recheckMs };
  // After a restart: closes and cancels the Registrar has not confirmed go out again.
  for (const order of await orders.find({ pending: { $in: ["close", "cancel"] } })) void sendDown(deps, order);
  const routes = omsRoutes(deps);
  const stopExpiry = expireFinishedOrders(orders, [OrderStatus.CLOSED, OrderStatus.CANCELLED, OrderStatus.DECLINED], blocks, {
    retentionMs: config.serverRole.codeRetentionMs,
    log,
  });
  return {
    spec: roleSpec(base, [OmsService], POLICY, routes),
    async stop() {
      stopExpiry();
      filler.stopResuming();
      await tasks.stopAll();
      await base.close();
    },
  };
}

export async function startOms(o: OmsOptions): Promise<RunningServer> {
  return serve(await buildOms(o), o.address ?? o.config.oms.address, o.config.tls);
}

if (isMain(import.meta.url)) {
  runMain(() => startOms({ config: loadConfig(process.argv, process.env) }));
}
