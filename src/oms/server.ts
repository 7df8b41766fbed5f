import { blocksOf } from "../core/codes/index.js";
import { loadConfig, type Address } from "../core/config.js";
import { buildHop, type HopOptions, type HopRole } from "../core/hop/index.js";
import { type AccessPolicy, sweepEvery } from "../core/iotp/index.js";
import { type BuiltRole, isMain, runMain, type RunningServer, serve } from "../core/process/index.js";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../gen/emission/registrar/v1/registrar_pb.js";
import { CancelMarks, OmsOrders, type OrderDoc } from "./orders.js";
import { omsRoutes } from "./routes.js";

export const ROLE = "oms";

/** Line controllers place and follow orders; operators may read the journal and the product-group rules. */
const POLICY: AccessPolicy = new Map([
  [OmsService.typeName, ["apcs"]],
  [`${OmsService.typeName}/${OmsService.method.listProductGroups.name}`, ["apcs", "admin"]],
  [JournalService.typeName, ["apcs", "admin"]],
]);

/** OMS is a forwarding hop: orders here, pools at the Registrar below. */
const OMS_HOP: HopRole<OrderDoc, OmsOrders, typeof RegistrarService> = {
  role: ROLE,
  service: OmsService,
  policy: POLICY,
  openRecords: (store) => OmsOrders.open(store),
  below: {
    service: RegistrarService,
    at: (config) => ({ address: config.registrar.address, token: config.oms.token }),
    adapt: (registrar) => ({
      names: { close: "ClosePool", cancel: "CancelPool" },
      streamCodes: (orderId, afterBlock, signal) => blocksOf(registrar.streamCodes({ orderId, afterBlock }, { signal })),
      close: (orderId, options) => registrar.closePool({ orderId }, options),
      cancel: (orderId, deliveredThroughBlock, options) => registrar.cancelPool({ orderId, deliveredThroughBlock }, options),
    }),
  },
  // Step 14.1: the code array is filled from the Registrar's pool stream.
  fillStep: "14.1",
  finished: [OrderStatus.CLOSED, OrderStatus.CANCELLED, OrderStatus.DECLINED],
  routes: async (hop) => {
    const { cancelMarkRetentionMs: retentionMs, cancelMarkMaxPerCaller: maxPerCaller } = hop.config.retention;
    const cancelMarks = await CancelMarks.open(hop.store, { retentionMs, maxPerCaller });
    hop.onStop(sweepEvery(Math.min(retentionMs, 60_000), () => cancelMarks.sweepExpired(), hop.log, "cancel mark"));
    return omsRoutes({ ...hop, cancelMarks });
  },
};

export interface OmsOptions extends HopOptions {
  address?: Address;
}

/** Wires OMS to its store and to the Registrar. */
export function buildOms(o: OmsOptions): Promise<BuiltRole> {
  return buildHop(OMS_HOP, o);
}

export async function startOms(o: OmsOptions): Promise<RunningServer> {
  return serve(await buildOms(o), o.address ?? o.config.oms.address, o.config.tls);
}

if (isMain(import.meta.url)) {
  runMain(() => startOms({ config: loadConfig(process.argv, process.env) }));
}
