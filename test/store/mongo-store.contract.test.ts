import { afterAll, beforeAll } from "vitest";
import { MongoStore } from "../../src/store/mongo-store.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";
import { storeContract } from "./store-contract.js";

const onFerretDb = (process.env.MONGODB_URI ?? "") === "";

let server: TestMongo | undefined;
let databases = 0;

beforeAll(async () => {
  server = await startFerretDb();
});

afterAll(async () => {
  await server?.stop();
});

storeContract(
  onFerretDb ? "MongoStore on FerretDB" : "MongoStore on MONGODB_URI",
  async () => {
    if (server === undefined) throw new Error("no server: see the beforeAll error");
    // A database per test, so each starts empty; bulk collections in one of their own, as the roles run.
    const db = `${server.dbName}_${++databases}`;
    const store = await MongoStore.connect(server.uri, db, `${db}-bulk`);
    return { store, close: () => store.close() };
  },
  // FerretDB 1.x with SQLite: NULLs are distinct in its unique indexes (not in
  // MongoDB's), and it refuses arrays of arrays ("nested arrays are not supported").
  { knownDifferences: onFerretDb ? ["unique index on a missing field", "arrays of arrays"] : [] },
);
