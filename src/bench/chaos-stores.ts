import { createClient } from "@connectrpc/connect";
import { MongoClient } from "mongodb";
import { parseAddress } from "../core/config.js";
import { createDownstreamTransport } from "../core/process/index.js";
import { createKeyRing, verifyCode } from "../domain/crypto-tail.js";
import { EmitterService } from "../gen/emission/emitter/v1/emitter_pb.js";

/** How many orders each request id made at each hop, read from every role's own database. */
export async function ordersPerRequest(uri: string, prefix: string): Promise<{ hop: string; counts: Map<string, number> }[]> {
  const client = await MongoClient.connect(uri);
  try {
    const hops = [
      ["OMS orders", "oms", "orders"],
      ["Registrar pools", "registrar", "pools"],
      ["Emission server orders", "emission-server", "orders"],
    ] as const;
    return await Promise.all(
      hops.map(async ([hop, role, collection]) => {
        const counts = new Map<string, number>();
        for (const d of await client
          .db(`${prefix}${role}`)
          .collection<{ requestId: string }>(collection)
          .find({}, { projection: { requestId: 1 } })
          .toArray()) {
          counts.set(d.requestId, (counts.get(d.requestId) ?? 0) + 1);
        }
        return { hop, counts };
      }),
    );
  } finally {
    await client.close();
  }
}

/** The Emission server's serial registry and its stored key ring. */
export async function emissionRecords(uri: string, prefix: string): Promise<{ registry: Set<string>; verify(code: string): boolean }> {
  const client = await MongoClient.connect(uri);
  try {
    const db = client.db(`${prefix}emission-server`);
    // The registry is in the role's bulk database (MONGODB_BULK_DATABASE_SUFFIX), or in its own one when stored before the split.
    const { databases } = await client.db("admin").admin().listDatabases({ nameOnly: true });
    const homes = databases.map((d) => d.name).filter((name) => name.startsWith(db.databaseName));
    const registry = new Set<string>();
    for (const home of homes) {
      const serials = client.db(home).collection<{ _id: string }>("serials");
      for (const d of await serials.find({}, { projection: { _id: 1 } }).toArray()) registry.add(d._id);
    }
    const keys = await db.collection<{ _id: string; keyId: string; secret: string }>("signing_keys").find({}).sort({ _id: 1 }).toArray();
    const ring = createKeyRing(keys.map((k) => ({ id: k.keyId, secret: new Uint8Array(Buffer.from(k.secret, "base64")) })));
    return { registry, verify: (code) => verifyCode(ring, code).valid };
  } finally {
    await client.close();
  }
}

/** Codes of `sample` the Emission server itself refuses (VerifyCode, as the Registrar calls it). */
export async function refusedByServer(emissionAddress: string, token: string, sample: readonly string[]): Promise<number> {
  const emitter = createClient(
    EmitterService,
    createDownstreamTransport({ address: parseAddress(emissionAddress), token, maxMessageBytes: 1 << 20 }),
  );
  const answers = await Promise.all(sample.map((code) => emitter.verifyCode({ code }, { timeoutMs: 30_000 })));
  return answers.filter((a) => !a.valid).length;
}

/** Drops the run's databases (on a MongoDB the run did not start itself). */
export async function dropRun(uri: string, prefix: string): Promise<void> {
  const client = await MongoClient.connect(uri);
  try {
    // Each role's own database and its bulk one (a name that starts with the role's).
    const { databases } = await client.db("admin").admin().listDatabases({ nameOnly: true });
    for (const { name } of databases) if (name.startsWith(prefix)) await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}
