import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { MongoClient } from "mongodb";
import { startLocalFerretDb, waitForPing } from "../../src/store/local-ferretdb.js";

const FERRETDB = fileURLToPath(new URL("../../.cache/tools/bin/ferretdb", import.meta.url));

export interface TestMongo {
  uri: string;
  /** A database name of this server's own; a test may add suffixes for more (they are dropped too). */
  dbName: string;
  stop(): Promise<void>;
}

/**
 * A MongoDB wire-protocol server for one test file: FerretDB with its SQLite
 * backend on 127.0.0.1 and a fresh data directory (built by `npm install`),
 * or the server of MONGODB_URI when that is set (its databases named after
 * `dbName` are dropped on stop).
 */
export async function startFerretDb(): Promise<TestMongo> {
  const dbName = `t${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== "") {
    await waitForPing(external);
    return { uri: external, dbName, stop: () => dropDatabases(external, dbName) };
  }
  const local = await startLocalFerretDb(FERRETDB);
  return { uri: local.uri, dbName, stop: () => local.stop() };
}

async function dropDatabases(uri: string, prefix: string): Promise<void> {
  const client = new MongoClient(uri);
  try {
    const { databases } = await client.db("admin").admin().listDatabases({ nameOnly: true });
    for (const { name } of databases) if (name === prefix || name.startsWith(`${prefix}_`)) await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}
