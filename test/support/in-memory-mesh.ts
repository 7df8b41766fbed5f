import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { type Logger, pino } from "pino";
import { Apcs, type ApcsOptions } from "../../src/apcs/apcs-client.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { MeshConfig } from "../../src/core/config.js";
import type { Store } from "../../src/store/store.js";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { JournalService, type JournalEntry } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { buildOms } from "../../src/oms/server.js";
import { buildRegistrar } from "../../src/registrar/server.js";
import { testConfig, TOKENS } from "./test-config.js";

const silent = pino({ level: "silent" });

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** The three server roles wired through in-memory transports, plus a line controller. */
export interface InMemoryMesh {
  config: MeshConfig;
  emission: BuiltRole;
  registrar: BuiltRole;
  oms: BuiltRole;
  apcs: Apcs;
  /** A transport to a role's full handler stack, presenting `token`. */
  to(role: "emission" | "registrar" | "oms", token: string): Transport;
  emitterClient: Client<typeof EmitterService>;
  registrarClient: Client<typeof RegistrarService>;
  omsClient(token?: string): Client<typeof OmsService>;
  /** How many documents a role keeps in a collection ("orders", "pools", "blocks", ...). */
  count(role: "emission" | "registrar" | "oms", collection: string): Promise<number>;
  /** A role's journal, read with the operator token. */
  journal(role: "emission" | "registrar" | "oms", orderId?: string): Promise<JournalEntry[]>;
  close(): Promise<void>;
}

/** Optional wrappers around each link, e.g. to inject faults between two roles. */
export interface MeshLinks {
  registrarToEmission?: (t: Transport) => Transport;
  omsToRegistrar?: (t: Transport) => Transport;
  apcsToOms?: (t: Transport) => Transport;
}

const same = (t: Transport): Transport => t;

export type MeshRole = "emission" | "registrar" | "oms";

export async function inMemoryMesh(
  env: Record<string, string> = {},
  links: MeshLinks = {},
  apcsOptions: Partial<ApcsOptions> = {},
  /** The roles' logger (silent by default). */
  log: Logger = silent,
  /** Stores for some roles (their caller closes them); the others get an embedded store of their own. */
  given: Partial<Record<MeshRole, Store>> = {},
): Promise<InMemoryMesh> {
  const config = testConfig(env);
  const stores: Record<MeshRole, Store> = {
    emission: given.emission ?? new MemoryStore(),
    registrar: given.registrar ?? new MemoryStore(),
    oms: given.oms ?? new MemoryStore(),
  };
  const emission = await buildEmissionServer({ config, log, store: stores.emission });
  const registrar = await buildRegistrar({
    config,
    log,
    store: stores.registrar,
    downstream: (links.registrarToEmission ?? same)(inMemoryTransport(emission.spec, bearer(TOKENS.registrar))),
  });
  const oms = await buildOms({
    config,
    log,
    store: stores.oms,
    downstream: (links.omsToRegistrar ?? same)(inMemoryTransport(registrar.spec, bearer(TOKENS.oms))),
  });
  const roles = { emission, registrar, oms };
  const to = (role: keyof typeof roles, token: string): Transport => inMemoryTransport(roles[role].spec, bearer(token));
  const apcs = await Apcs.open({ transport: (links.apcsToOms ?? same)(to("oms", TOKENS.apcs)), log: silent, ...apcsOptions });
  return {
    config,
    emission,
    registrar,
    oms,
    apcs,
    to,
    async count(role, collection) {
      return (await stores[role].collection<{ _id: string }>(collection)).count({});
    },
    emitterClient: createClient(EmitterService, to("emission", TOKENS.registrar)),
    registrarClient: createClient(RegistrarService, to("registrar", TOKENS.oms)),
    omsClient: (token = TOKENS.apcs) => createClient(OmsService, to("oms", token)),
    async journal(role, orderId = "") {
      const r = await createClient(JournalService, to(role, TOKENS.admin)).listJournal({ orderId });
      return r.entries;
    },
    async close() {
      await apcs.close();
      await oms.stop();
      await registrar.stop();
      await emission.stop();
      await Promise.all((Object.keys(stores) as MeshRole[]).filter((r) => given[r] === undefined).map((r) => stores[r].close()));
    },
  };
}

/**
 * The mesh with a store of `storeOf`'s for each role (the caller closes them),
 * the line's on the embedded store: for tests that watch what each role does
 * with its store.
 */
export async function meshOnStores(env: Record<string, string>, storeOf: (role: MeshRole) => Promise<Store>): Promise<InMemoryMesh> {
  return inMemoryMesh(env, {}, { store: new MemoryStore() }, silent, {
    emission: await storeOf("emission"),
    registrar: await storeOf("registrar"),
    oms: await storeOf("oms"),
  });
}
