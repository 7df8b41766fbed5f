// One storage interface for every role. It is the subset of MongoDB that the
// mesh needs: single-document conditional updates, unique keys, equality and
// range filters. No multi-document transactions and no change streams, so the
// same role code runs on the embedded store, FerretDB, a replica set or a
// sharded cluster.

export interface Doc {
  _id: string;
}

type Scalar = string | number | boolean;

export interface Range<V> {
  $gt?: V;
  $gte?: V;
  $lt?: V;
  $lte?: V;
  $in?: readonly V[];
  $ne?: V;
}

/** Equality on a field, or a range / membership test on a scalar field. */
export type Filter<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends Scalar ? T[K] | Range<NonNullable<T[K]>> : T[K];
};

type NumericKeys<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T];

export interface Update<T> {
  $set?: Partial<Omit<T, "_id">>;
  $inc?: Partial<Record<NumericKeys<T>, number>>;
  $max?: Partial<Record<NumericKeys<T>, number>>;
  /** Removes optional fields. */
  $unset?: Partial<Record<Exclude<keyof T, "_id">, true>>;
}

export interface FindOptions<T> {
  sort?: { field: keyof T & string; direction: 1 | -1 };
  limit?: number;
}

export interface InsertManyResult {
  inserted: number;
  /** Positions (in the given array) of documents refused for a duplicate key. */
  duplicates: number[];
}

export interface IndexSpec<T> {
  fields: readonly (keyof T & string)[];
  unique?: boolean;
}

export interface Collection<T extends Doc> {
  /** Throws DuplicateKeyError if `_id` or a unique index is taken. */
  insertOne(doc: T): Promise<void>;
  /** Unordered: inserts what it can and reports the duplicates. */
  insertMany(docs: readonly T[]): Promise<InsertManyResult>;
  /**
   * Ordered: inserts the documents one after the other and stops at the
   * first duplicate, whose position it returns (undefined when all went in).
   * What it inserted is always a prefix of `docs`, even when the caller dies
   * meanwhile: the server runs one ordered command to its end or its first
   * error (a batch of this size is one command).
   */
  insertInOrder(docs: readonly T[]): Promise<number | undefined>;
  findOne(filter: Filter<T>): Promise<T | undefined>;
  find(filter: Filter<T>, options?: FindOptions<T>): Promise<T[]>;
  count(filter: Filter<T>): Promise<number>;
  /**
   * Applies `update` to the one document matching `filter` (the condition) and
   * returns it as updated, or undefined when no document matched.
   */
  updateOne(filter: Filter<T>, update: Update<T>): Promise<T | undefined>;
  deleteMany(filter: Filter<T>): Promise<number>;
}

export interface CollectionOptions {
  /**
   * The collection holds codes or serials, written in bulk (a document per
   * code, or a block of them): a store may keep it apart from the others so
   * that its large writes do not hold up the small ones of every call
   * (MongoStore: in a database of its own, a file of its own on FerretDB's
   * SQLite). Where it is kept changes nothing a caller sees.
   */
  bulk?: boolean;
  /**
   * Every write here is one the role's liveness depends on (an instance's
   * heartbeat): a store that queues writes lets these pass the queue
   * (MongoStore on FerretDB: WriteGate's urgent lane), so a heartbeat is not
   * late behind the bulk progress of a loaded database. It changes nothing
   * else a caller sees. A bulk collection's writes are never urgent.
   */
  urgent?: boolean;
}

export interface Store {
  collection<T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions): Promise<Collection<T>>;
  close(): Promise<void>;
}

export class DuplicateKeyError extends Error {
  constructor(
    readonly collection: string,
    readonly key: string,
  ) {
    super(`duplicate key in ${collection}: ${key}`);
    this.name = "DuplicateKeyError";
  }
}
