import type { DescService } from "@bufbuild/protobuf";
import { type Client, type ConnectRouter, createClient, type Transport } from "@connectrpc/connect";
import type { Address, MeshConfig } from "../config.js";
import { BlockStore } from "../codes/index.js";
import { type AccessPolicy, DownstreamOutbox } from "../iotp/index.js";
import { type BuiltRole, openRoleBase, roleSpec, transportBelow } from "../process/index.js";
import { BackgroundTasks, type Logger, Notifier } from "../runtime/index.js";
import type { Store } from "../../store/store.js";
import { createHopFiller } from "./hop-filler.js";
import { type HopBelow, type HopDeps, resendPendingEnds } from "./hop-lifecycle.js";
import type { HopRecordDoc } from "./hop-record.js";
import type { HopRecords } from "./hop-records.js";

/** What a forwarding role is, as far as its wiring goes: OMS and the Registrar each give one. */
export interface HopRole<T extends HopRecordDoc, R extends HopRecords<T>, B extends DescService> {
  role: string;
  service: DescService;
  policy: AccessPolicy;
  openRecords(store: Store): Promise<R>;
  below: {
    service: B;
    /** Where the role below listens, and this role's token there. */
    at(config: MeshConfig): { address: Address; token: string };
    /** The role below as the hop sees it; code streams read through `transport` with blocks kept encoded. */
    adapt(client: Client<B>, transport: Transport): HopBelow;
  };
  /** The seed step the filler runs, for the journal ("14.1" at OMS). */
  fillStep: string;
  /** Statuses whose codes expire after the retention period. */
  finished: readonly T["status"][];
  routes(hop: Hop<T, R, B>): Promise<(router: ConnectRouter) => void>;
}

/** A built hop as its routes see it: the shared parts plus the typed client of the role below. */
export interface Hop<T extends HopRecordDoc, R extends HopRecords<T>, B extends DescService> extends HopDeps<T> {
  records: R;
  client: Client<B>;
  store: Store;
  config: MeshConfig;
  log: Logger;
  /** Registers what the role's own parts need stopped with the role (sweeps, timers). */
  onStop(stop: () => void): void;
}

export interface HopOptions {
  config: MeshConfig;
  store?: Store;
  log?: Logger;
  /** How to reach the role below; by default gRPC to the configured address. */
  downstream?: Transport;
}

/** The hop's records by status, each status the spec names once. */
function countsByStatus<T extends HopRecordDoc>(records: HopRecords<T>): () => Promise<Record<string, number>> {
  const { spec } = records;
  const statuses = [...new Set([...spec.open, spec.failed.status, spec.ended.close.status, spec.ended.cancel.status])];
  return async () => {
    const counts = await Promise.all(statuses.map((s) => records.countWithStatus(s)));
    return Object.fromEntries(statuses.map((s, i) => [spec.statusName(s), counts[i] ?? 0]));
  };
}

/** Wires a forwarding role to its store and to the role below. */
export async function buildHop<T extends HopRecordDoc, R extends HopRecords<T>, B extends DescService>(
  role: HopRole<T, R, B>,
  o: HopOptions,
): Promise<BuiltRole> {
  const base = await openRoleBase({ role: role.role, config: o.config, store: o.store, log: o.log });
  const { config, log, store, journal } = base;
  const records = await role.openRecords(store);
  const blocks = await BlockStore.open(store);
  const notifier = new Notifier();
  const tasks = new BackgroundTasks(log);
  const transport = transportBelow(config, role.below.at(config), log, o.downstream);
  const client = createClient(role.below.service, transport);
  const below = role.below.adapt(client, transport);
  const { metrics } = base;
  const filler = createHopFiller(
    { blocks, notifier, tasks, journal, log, step: role.fillStep, metrics },
    records,
    below,
    records.lease(base.lease),
  );
  filler.startResuming(); // records left filling by a crash, or by an instance that died
  const outbox = new DownstreamOutbox(tasks, log);
  metrics.watchOutbox(() => outbox.depth);
  metrics.watchOrders(countsByStatus(records));
  const stops: (() => void)[] = [];
  const hop: Hop<T, R, B> = {
    role: role.role,
    records,
    blocks,
    below,
    client,
    filler,
    notifier,
    journal,
    outbox,
    recheckMs: config.recheckMs,
    store,
    config,
    log,
    onStop: (stop) => stops.push(stop),
  };
  await resendPendingEnds(hop);
  const routes = await role.routes(hop);
  const stopExpiry = records.expireFinished(role.finished, blocks, { retentionMs: config.serverRole.codeRetentionMs, log });
  const stopWork = async (): Promise<void> => {
    stopExpiry();
    for (const stop of stops) stop();
    filler.stopResuming();
    await tasks.stopAll();
  };
  return {
    // The transport below also tells readiness whether the role below answers.
    spec: roleSpec(base, [role.service], role.policy, routes, transport),
    stopWork,
    async stop() {
      await stopWork();
      await base.close();
    },
  };
}
