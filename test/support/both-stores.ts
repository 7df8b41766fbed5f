import { afterAll, afterEach, beforeAll, describe } from "vitest";
import { MemoryStore } from "../../src/store/memory-store.js";
import { MongoStore } from "../../src/store/mongo-store.js";
import type { Store } from "../../src/store/store.js";
import { startFerretDb, type TestMongo } from "./ferretdb.js";

/** Opens a fresh, empty database; everything opened is closed after each test. */
export type OpenStore = () => Promise<Store>;

/**
 * Runs `suite` twice: on the embedded store and on MongoDB (FerretDB, or the
 * server of MONGODB_URI), each test with a database of its own.
 */
export function onBothStores(suite: (open: OpenStore) => void): void {
  describe("on the embedded store", () => suite(closingAfterEach(async () => new MemoryStore())));
  describe("on MongoDB (FerretDB)", () => suite(mongoStores()));
}

/**
 * Within a describe: a FerretDB (or the server of MONGODB_URI) for its
 * tests, each opening a database of its own as a MongoStore.
 */
export function mongoStores(): () => Promise<MongoStore> {
  let server: TestMongo | undefined;
  let databases = 0;
  beforeAll(async () => {
    server = await startFerretDb();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return closingAfterEach(async () => {
    if (server === undefined) throw new Error("no server: see the beforeAll error");
    return MongoStore.connect(server.uri, `${server.dbName}_${++databases}`);
  });
}

function closingAfterEach<S extends Store>(open: () => Promise<S>): () => Promise<S> {
  const opened: S[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  return async () => {
    const store = await open();
    opened.push(store);
    return store;
  };
}
