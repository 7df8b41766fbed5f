import {
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  type Db,
  type Document,
  type Collection as MongoCollection,
  type WriteConcernSettings,
} from "mongodb";
import { matchesFilter } from "./filter-match.js";
import { byKey, idsIn } from "./by-key.js";
import { DuplicateKeyError } from "./store.js";
import { WriteGate } from "./write-gate.js";
import { DocumentLanes } from "./document-lanes.js";
import { duplicatesOf, InsertBatch, isDuplicateKey } from "./insert-batch.js";
import type { Collection, CollectionOptions, Doc, Filter, FindOptions, IndexSpec, InsertManyResult, Store, Update } from "./store.js";

/**
 * The production store: one MongoDB database (a standalone server, a replica
 * set, a sharded cluster, or FerretDB) through the official driver, and
 * optionally a second one for the bulk collections (CollectionOptions.bulk).
 * Only single-document operations, so no transactions and no change streams.
 */
export class MongoStore implements Store {
  /** Per collection, when conditional updates of one document must be serialized here (FerretDB 1.x, see connect). */
  private readonly lanes: Map<string, DocumentLanes> | undefined;
  /** Per database on FerretDB (a SQLite file, one writer at a time): its writes queued here in order (WriteGate). */
  private readonly gates = new Map<string, WriteGate>();

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    /** FerretDB 1.x: conditional updates serialized here, `_id` lists done key by key (by-key.ts). */
    private readonly ferretDb: boolean,
    /** Where bulk collections go, unless they already exist in `db`; undefined keeps them in `db`. */
    private readonly bulkDb: Db | undefined,
  ) {
    this.lanes = ferretDb ? new Map() : undefined;
  }

  /**
   * Connects to `uri` and uses database `dbName`. Writes wait for a majority
   * when the deployment is a replica set (unless the URI sets a write concern).
   *
   * FerretDB 1.x runs a findAndModify as a read and then an unconditional
   * write by _id (its TODO FerretDB#2168), so two concurrent conditional
   * updates of one document could both succeed, and one could undo the other
   * (its write replaces the whole document). On FerretDB this store sends the
   * updates of a document one at a time, which makes them atomic among the
   * callers of this process (not across processes sharing the server); updates
   * of different documents run at once, as they do on MongoDB.
   *
   * Given `bulkDbName`, the bulk collections live in that database: on
   * FerretDB's SQLite backend a database is a file with one writer at a time,
   * and the small writes of every call waited behind the bulk inserts of
   * codes and serials. A bulk collection that already exists in `dbName`
   * (stored before the split) stays there.
   */
  static async connect(uri: string, dbName: string, bulkDbName?: string): Promise<MongoStore> {
    // ignoreUndefined: an absent optional field stays absent (the driver would store null);
    // promoteBuffers: stored bytes (encoded code blocks) come back as Buffers, not BSON Binary objects.
    const client = new MongoClient(uri, { ignoreUndefined: true, promoteBuffers: true });
    try {
      await client.connect();
      const server = await describeServer(client);
      const writeConcern: WriteConcernSettings | undefined =
        server.replicaSet && client.writeConcern?.w === undefined ? { w: "majority" } : undefined;
      const options = writeConcern === undefined ? {} : { writeConcern };
      const bulkDb = bulkDbName === undefined || bulkDbName === dbName ? undefined : client.db(bulkDbName, options);
      return new MongoStore(client, client.db(dbName, options), server.ferretDb, bulkDb);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  async collection<T extends Doc>(
    name: string,
    indexes: readonly IndexSpec<T>[] = [],
    options: CollectionOptions = {},
  ): Promise<Collection<T>> {
    const db = options.bulk === true ? await this.bulkHome(name) : this.db;
    const c = db.collection(name);
    await ensureIndexes(c, indexes as readonly IndexSpec<Doc>[]);
    const lane = this.lanes === undefined ? undefined : (this.lanes.get(name) ?? new DocumentLanes());
    if (lane !== undefined) this.lanes?.set(name, lane);
    return new MongoCollectionAdapter<T>(name, c, lane, this.ferretDb, this.gateOf(db), urgencyOf(options));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** The write gate of a database on FerretDB; none on MongoDB, whose writers do not poll for a lock. */
  private gateOf(db: Db): WriteGate | undefined {
    if (!this.ferretDb) return undefined;
    const gate = this.gates.get(db.databaseName) ?? new WriteGate(FERRETDB_WRITES_AT_ONCE);
    this.gates.set(db.databaseName, gate);
    return gate;
  }

  /** The bulk database, unless the collection exists in the main one already (stored there before the split). */
  private async bulkHome(name: string): Promise<Db> {
    if (this.bulkDb === undefined) return this.db;
    const there = await this.db.listCollections({ name }, { nameOnly: true }).toArray();
    return there.length > 0 ? this.db : this.bulkDb;
  }
}

async function describeServer(client: MongoClient): Promise<{ replicaSet: boolean; ferretDb: boolean }> {
  const admin = client.db("admin");
  let hello: Document;
  try {
    hello = await admin.command({ hello: 1 });
  } catch (err) {
    // Servers before MongoDB 4.4.2 know only the legacy name.
    if (!(err instanceof MongoServerError)) throw err;
    hello = await admin.command({ isMaster: 1 });
  }
  const build = await admin.command({ buildInfo: 1 });
  return { replicaSet: typeof hello.setName === "string", ferretDb: typeof build.ferretdbVersion === "string" };
}

/**
 * Writes in flight at once per FerretDB database: a few keep its one writer
 * busy while replies travel back and requests are parsed. Under the load of
 * 16 orders the Emission server's writes had a p99 of about 0.6–3 s without
 * a gate, 0.2–0.4 s with 4 (and with 2, but a higher median).
 */
const FERRETDB_WRITES_AT_ONCE = 4;

/** The name an index gets: MongoDB's default naming, so a hand-made index with default options is the same one. */
function indexName(fields: readonly string[]): string {
  return fields.map((f) => `${f}_1`).join("_");
}

/**
 * Creates the declared indexes that are missing. Idempotent; an existing index
 * of the same name that differs in uniqueness is refused (FerretDB would keep
 * the old one silently) rather than left in place.
 */
async function ensureIndexes(c: MongoCollection, specs: readonly IndexSpec<Doc>[]): Promise<void> {
  // The _id index always exists and is unique.
  const wanted = specs.filter((s) => !(s.fields.length === 1 && s.fields[0] === "_id"));
  if (wanted.length === 0) return;
  const existing = new Map<string, Document>();
  try {
    for (const ix of await c.listIndexes().toArray()) existing.set(String(ix.name), ix);
  } catch (err) {
    // A collection that does not exist yet has no indexes (MongoDB: NamespaceNotFound).
    if (!(err instanceof MongoServerError && err.code === 26)) throw err;
  }
  for (const spec of wanted) {
    const name = indexName(spec.fields);
    const unique = spec.unique === true;
    const found = existing.get(name);
    if (found !== undefined) {
      if ((found.unique === true) !== unique) throw indexConflict(c, name, unique, `it exists with unique: ${found.unique === true}`);
      continue;
    }
    const keys = Object.fromEntries(spec.fields.map((f) => [f, 1 as const]));
    try {
      await c.createIndex(keys, unique ? { name, unique } : { name });
    } catch (err) {
      // 85 IndexOptionsConflict, 86 IndexKeySpecsConflict: the same keys under another name or options.
      if (err instanceof MongoServerError && (err.code === 85 || err.code === 86)) throw indexConflict(c, name, unique, err.message);
      throw err;
    }
  }
}

function indexConflict(c: MongoCollection, name: string, unique: boolean, why: string): Error {
  return new Error(
    `cannot create index ${name} (unique: ${unique}) on ${c.collectionName}: ${why}; drop the old index to apply the new declaration`,
  );
}

class MongoCollectionAdapter<T extends Doc> implements Collection<T> {
  constructor(
    private readonly name: string,
    private readonly c: MongoCollection,
    private readonly updates: DocumentLanes | undefined,
    /** Run `{ _id: { $in } }` filters one key at a time (FerretDB: see by-key.ts). */
    private readonly idListsByKey: boolean,
    /** FerretDB: the database's writes, queued in order (see WriteGate). */
    private readonly writes: WriteGate | undefined,
    /** Which writes here are urgent (see write). */
    private readonly urgency: Urgency,
  ) {
    this.batch = writes === undefined ? undefined : new InsertBatch(name, c, (write) => this.write(write, true));
  }

  /** FerretDB: single-document inserts that queue behind others go together (InsertBatch). */
  private readonly batch: InsertBatch | undefined;

  /**
   * `urgent`: a write a call waits for, queued before the others (WriteGate). A call starts
   * and ends with single-document inserts (its claim, its record, its outcome); blocks'
   * progress, leases and sweeps are updates and deletes; bulk collections' writes are all
   * ordinary, and every write of an urgent collection (heartbeats) is urgent.
   */
  private write<R>(task: () => Promise<R>, urgent = false): Promise<R> {
    if (this.writes === undefined) return task();
    return this.writes.run(task, this.urgency === "all" || (urgent && this.urgency === "inserts"));
  }

  async insertOne(doc: T): Promise<void> {
    if (this.batch !== undefined) return this.batch.insert(doc as Document);
    try {
      await this.write(() => this.c.insertOne(doc as Document), true);
    } catch (err) {
      throw this.duplicateOr(err);
    }
  }

  async insertMany(docs: readonly T[]): Promise<InsertManyResult> {
    if (docs.length === 0) return { inserted: 0, duplicates: [] };
    const [one] = docs;
    if (docs.length === 1 && one !== undefined && this.batch !== undefined) {
      try {
        await this.batch.insert(one as Document);
        return { inserted: 1, duplicates: [] };
      } catch (err) {
        if (err instanceof DuplicateKeyError) return { inserted: 0, duplicates: [0] };
        throw err;
      }
    }
    try {
      const r = await this.write(() => this.c.insertMany(docs as unknown as Document[], { ordered: false }), docs.length === 1);
      return { inserted: r.insertedCount, duplicates: [] };
    } catch (err) {
      const refused = duplicatesOf(err);
      if (refused === undefined) throw err;
      const duplicates = [...refused.keys()].sort((a, b) => a - b);
      return { inserted: docs.length - duplicates.length, duplicates };
    }
  }

  async insertInOrder(docs: readonly T[]): Promise<number | undefined> {
    if (docs.length === 0) return undefined;
    try {
      await this.write(() => this.c.insertMany(docs as unknown as Document[], { ordered: true }));
      return undefined;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError() !== undefined) throw err;
      const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      const first = writeErrors[0];
      if (first === undefined || !isDuplicateKey(first.code, first.errmsg)) throw err;
      return first.index;
    }
  }

  async findOne(filter: Filter<T>): Promise<T | undefined> {
    return ((await this.c.findOne(toMongoFilter(filter))) ?? undefined) as T | undefined;
  }

  async find(filter: Filter<T>, options: FindOptions<T> = {}): Promise<T[]> {
    if (options.limit === 0) return []; // MongoDB reads a limit of 0 as "no limit"
    const where = toMongoFilter(filter);
    const ids = this.idListsByKey && options.sort === undefined && options.limit === undefined ? idsIn(where) : undefined;
    if (ids !== undefined) {
      const found = await byKey([...new Set(ids)], (_id) => this.c.findOne({ _id } as Document));
      return found.filter((d) => d !== null) as unknown as T[];
    }
    let cursor = this.c.find(where);
    if (options.sort !== undefined) cursor = cursor.sort({ [options.sort.field]: options.sort.direction });
    if (options.limit !== undefined) cursor = cursor.limit(options.limit);
    return (await cursor.toArray()) as unknown as T[];
  }

  async count(filter: Filter<T>): Promise<number> {
    return this.c.countDocuments(toMongoFilter(filter));
  }

  async updateOne(filter: Filter<T>, update: Update<T>): Promise<T | undefined> {
    const where = toMongoFilter(filter);
    const change = toMongoUpdate(update);
    if (change === undefined) return this.findOne(filter);
    const id = (filter as Filter<Doc>)._id;
    const options = { returnDocument: "after", includeResultMetadata: false } as const;
    const apply = async () => {
      // FerretDB: a filter of more than `_id` scans the collection, a read and a write by `_id` alone use its index.
      // Run in this document's lane, the read and the write are as atomic as FerretDB's own read-then-write.
      if (this.updates === undefined || typeof id !== "string" || Object.keys(where).length === 1) {
        return this.write(() => this.c.findOneAndUpdate(where, change, options));
      }
      const current = await this.c.findOne({ _id: id } as Document);
      if (current === null || !matchesFilter(current as unknown as T, filter)) return null;
      return this.write(() => this.c.findOneAndUpdate({ _id: id } as Document, change, options));
    };
    try {
      const doc = await (this.updates === undefined ? apply() : this.updates.run(typeof id === "string" ? id : undefined, apply));
      return (doc ?? undefined) as T | undefined;
    } catch (err) {
      throw this.duplicateOr(err);
    }
  }

  async deleteMany(filter: Filter<T>): Promise<number> {
    const where = toMongoFilter(filter);
    const ids = this.idListsByKey ? idsIn(where) : undefined;
    if (ids !== undefined) {
      // A key is looked up before it is deleted: a lookup by key takes no write lock, and most keys of
      // a cancel's range of blocks were never stored; every delete waits for SQLite's one writer.
      const deleted = await byKey([...new Set(ids)], async (_id) => {
        if ((await this.c.findOne({ _id } as Document, { projection: { _id: 1 } })) === null) return 0;
        return (await this.write(() => this.c.deleteOne({ _id } as Document))).deletedCount;
      });
      return deleted.reduce((a, b) => a + b, 0);
    }
    return (await this.write(() => this.c.deleteMany(where))).deletedCount;
  }

  /** A DuplicateKeyError for a duplicate-key refusal, else the error itself. */
  private duplicateOr(err: unknown): unknown {
    if (!(err instanceof MongoServerError) || !isDuplicateKey(err.code, err.message)) return err;
    // MongoDB names the key (keyValue, as MemoryStore does); FerretDB only the collection.
    const keyValue = err.keyValue as Record<string, unknown> | undefined;
    const key =
      keyValue !== undefined && Object.keys(keyValue).length > 0
        ? `${Object.keys(keyValue).join(",")} ${JSON.stringify(Object.values(keyValue))}`
        : err.message;
    return new DuplicateKeyError(this.name, key);
  }
}

/** Which writes of a collection pass the ordinary ones in its database's WriteGate. */
type Urgency = "all" | "inserts" | "none";

function urgencyOf(options: CollectionOptions): Urgency {
  // Nothing a call waits for is written in bulk: a bulk collection's writes are never urgent.
  if (options.bulk === true) return "none";
  return options.urgent === true ? "all" : "inserts";
}

/**
 * The interface's filters are a subset of MongoDB's; undefined values are
 * ignored (as by MemoryStore): an undefined field or operator is dropped, and
 * a field whose range has no defined operator left is no condition at all.
 */
function toMongoFilter(filter: object): Document {
  const out: Document = {};
  for (const [field, want] of Object.entries(filter)) {
    if (want === undefined) continue;
    if (typeof want === "object" && want !== null && !Array.isArray(want)) {
      const ops = withoutUndefined(want as Record<string, unknown>);
      if (Object.keys(ops).length > 0) out[field] = ops;
    } else {
      out[field] = want;
    }
  }
  return out;
}

/**
 * The interface's update as a MongoDB update document, or undefined when it
 * changes nothing. `$set: { f: undefined }` unsets f: MemoryStore stores the
 * undefined, which reads back as an absent field. Undefined values of the
 * other operators are dropped.
 */
function toMongoUpdate(update: Update<Doc>): Document | undefined {
  const out: Document = {};
  const unset: Record<string, true> = {};
  for (const [field, value] of Object.entries(update.$set ?? {})) {
    if (value === undefined) unset[field] = true;
    else {
      out.$set ??= {};
      out.$set[field] = value;
    }
  }
  for (const op of ["$inc", "$max"] as const) {
    const values = withoutUndefined((update[op] ?? {}) as Record<string, unknown>);
    if (Object.keys(values).length > 0) out[op] = values;
  }
  for (const [field, value] of Object.entries(update.$unset ?? {})) if (value !== undefined) unset[field] = true;
  if (Object.keys(unset).length > 0) out.$unset = unset;
  return Object.keys(out).length === 0 ? undefined : out;
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
