import { blocksOf } from "../core/codes/index.js";
import { loadConfig, type Address } from "../core/config.js";
import { buildHop, type HopOptions, type HopRole } from "../core/hop/index.js";
import type { AccessPolicy } from "../core/iotp/index.js";
import { type BuiltRole, isMain, runMain, type RunningServer, serve } from "../core/process/index.js";
import { PoolStatus } from "../gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { openPools, type PoolDoc, type Pools } from "./pools.js";
import { registrarRoutes } from "./routes.js";

export const ROLE = "registrar";

/** Only OMS forms pools; operators may read the journal. */
const POLICY: AccessPolicy = new Map([
  [RegistrarService.typeName, ["oms"]],
  [JournalService.typeName, ["oms", "admin"]],
]);

/** The Registrar is a forwarding hop: pools here, emission orders at the Emission server below. */
const REGISTRAR_HOP: HopRole<PoolDoc, Pools, typeof EmitterService> = {
  role: ROLE,
  service: RegistrarService,
  policy: POLICY,
  openRecords: openPools,
  below: {
    service: EmitterService,
    at: (config) => ({ address: config.emissionServer.address, token: config.registrar.token }),
    adapt: (emitter) => ({
      names: { close: "CloseEmissionOrder", cancel: "CancelEmissionOrder" },
      streamCodes: (orderId, afterBlock, signal) => blocksOf(emitter.streamCodes({ orderId, afterBlock }, { signal })),
      close: (orderId, options) => emitter.closeEmissionOrder({ orderId }, options),
      cancel: (orderId, deliveredThroughBlock, options) => emitter.cancelEmissionOrder({ orderId, deliveredThroughBlock }, options),
    }),
  },
  // Step 10.1: the pool is filled from the Emission server's code stream.
  fillStep: "10.1",
  finished: [PoolStatus.CLOSED, PoolStatus.CANCELLED, PoolStatus.REJECTED],
  routes: async (hop) => registrarRoutes(hop),
};

export interface RegistrarOptions extends HopOptions {
  address?: Address;
}

/** Wires the Registrar to its store and to the Emission server. */
export function buildRegistrar(o: RegistrarOptions): Promise<BuiltRole> {
  return buildHop(REGISTRAR_HOP, o);
}

export async function startRegistrar(o: RegistrarOptions): Promise<RunningServer> {
  return serve(await buildRegistrar(o), o.address ?? o.config.registrar.address, o.config.tls);
}

if (isMain(import.meta.url)) {
  runMain(() => startRegistrar({ config: loadConfig(process.argv, process.env) }));
}
