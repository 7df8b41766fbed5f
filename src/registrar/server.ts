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
import { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { MemoryStore } from "../store/memory-store.js";
import type { Store } from "../store/store.js";
import { createPoolFiller } from "./pool-filler.js";
import { openPools } from "./pools.js";
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
  const { config } = o;
  const log = o.log ?? createLogger(ROLE, config.logLevel);
  const store = o.store ?? new MemoryStore();
  const pools = await openPools(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const journal = await Journal.open(store, ROLE, log);
  const tasks = new BackgroundTasks(log);
  const emitter = createClient(
    EmitterService,
    o.downstream ?? createDownstreamTransport({ address: config.emissionServer.address, token: config.registrar.token, maxMessageBytes: config.maxMessageBytes }),
  );
  const filler = createPoolFiller({ blocks, notifier, tasks, journal, log }, pools, emitter);
  await filler.resumeAll();
  const routes = registrarRoutes({ pools, blocks, emitter, filler, notifier, journal, callTimeoutMs: config.callTimeoutMs, recheckMs: config.recheckMs });
  return {
    spec: {
      log, services: [RegistrarService, JournalService], policy: POLICY, tokens: config.tokens, maxMessageBytes: config.maxMessageBytes,
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

export async function startRegistrar(o: RegistrarOptions): Promise<RunningServer> {
  return serve(await buildRegistrar(o), o.address ?? o.config.registrar.address);
}

if (isMain(import.meta.url)) {
  runMain(() => startRegistrar({ config: loadConfig(process.argv, process.env) }));
}
