import { createClient, type Transport } from "@connectrpc/connect";
import type { AccessPolicy } from "../core/auth.js";
import { BackgroundTasks } from "../core/background-tasks.js";
import { BlockStore } from "../core/block-store.js";
import { loadConfig, type Address, type MeshConfig } from "../core/config.js";
import { createDownstreamTransport } from "../core/downstream-transport.js";
import { serve, type BuiltRole, type RunningServer } from "../core/grpc-server.js";
import { Journal, registerJournal } from "../core/journal.js";
import { createLogger, type Logger } from "../core/logger.js";
import { Notifier } from "../core/notifier.js";
import { isMain, runMain } from "../core/run-main.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { MemoryStore } from "../store/memory-store.js";
import type { Store } from "../store/store.js";
import { createArrayFiller } from "./array-filler.js";
import { openOrders } from "./orders.js";
import { omsRoutes } from "./routes.js";

export const ROLE = "oms";

/** Line controllers place and follow orders; operators may read the journal. */
const POLICY: AccessPolicy = new Map([
  [OmsService.typeName, ["apcs"]],
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
  const { config } = o;
  const log = o.log ?? createLogger(ROLE, config.logLevel);
  const store = o.store ?? new MemoryStore();
  const orders = await openOrders(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const journal = await Journal.open(store, ROLE, log);
  const tasks = new BackgroundTasks(log);
  const registrar = createClient(
    RegistrarService,
    o.downstream ?? createDownstreamTransport({ address: config.registrar.address, token: config.oms.token, maxMessageBytes: config.maxMessageBytes }),
  );
  const filler = createArrayFiller({ blocks, notifier, tasks, journal, log }, orders, registrar);
  await filler.resumeAll();
  const routes = omsRoutes({ orders, blocks, registrar, filler, notifier, journal, callTimeoutMs: config.callTimeoutMs, recheckMs: config.recheckMs });
  return {
    spec: {
      log, services: [OmsService, JournalService], policy: POLICY, tokens: config.tokens, maxMessageBytes: config.maxMessageBytes,
      routes(router) {
        routes(router);
        registerJournal(router, journal);
      },
    },
    async stop() {
      await tasks.stopAll();
      if (o.store === undefined) await store.close();
    },
  };
}

export async function startOms(o: OmsOptions): Promise<RunningServer> {
  return serve(await buildOms(o), o.address ?? o.config.oms.address);
}

if (isMain(import.meta.url)) {
  runMain(() => startOms({ config: loadConfig(process.argv, process.env) }));
}
