import { compare, isEquality, matchesFilter } from "./filter-match.js";
import {
  DuplicateKeyError,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type IndexSpec,
  type InsertManyResult,
  type Store,
  type Update,
} from "./store.js";

/**
 * The embedded store: every collection lives in this process's memory, with
 * hash indexes for the declared keys. Documents are frozen so no caller can
 * change stored state except through updateOne.
 */
export class MemoryStore implements Store {
  private readonly collections = new Map<string, MemoryCollection<Doc>>();

  async collection<T extends Doc>(name: string, indexes: readonly IndexSpec<T>[] = []): Promise<Collection<T>> {
    let found = this.collections.get(name);
    if (found === undefined) {
      found = new MemoryCollection<Doc>(name, indexes as readonly IndexSpec<Doc>[]);
      this.collections.set(name, found);
    }
    return found as unknown as Collection<T>;
  }

  async close(): Promise<void> {
    this.collections.clear();
  }
}

interface MemoryIndex {
  fields: readonly string[];
  unique: boolean;
  /** By the value itself, for an index of one field whose value is a string (orderId, participantId: most). */
  strings: Map<string, Set<string>>;
  /** By the JSON text of the values, for every other key. */
  entries: Map<string, Set<string>>;
}

type Row = Record<string, unknown>;

class MemoryCollection<T extends Doc> implements Collection<T> {
  private readonly docs = new Map<string, T>();
  private readonly indexes: MemoryIndex[];

  constructor(
    private readonly name: string,
    specs: readonly IndexSpec<T>[],
  ) {
    this.indexes = specs.map((s) => ({ fields: s.fields, unique: s.unique === true, strings: new Map(), entries: new Map() }));
  }

  async insertOne(doc: T): Promise<void> {
    this.insert(doc);
  }

  async insertMany(docs: readonly T[]): Promise<InsertManyResult> {
    const duplicates: number[] = [];
    docs.forEach((doc, i) => {
      try {
        this.insert(doc);
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        duplicates.push(i);
      }
    });
    return { inserted: docs.length - duplicates.length, duplicates };
  }

  async insertInOrder(docs: readonly T[]): Promise<number | undefined> {
    for (const [i, doc] of docs.entries()) {
      try {
        this.insert(doc);
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        return i;
      }
    }
    return undefined;
  }

  async findOne(filter: Filter<T>): Promise<T | undefined> {
    return this.first(filter);
  }

  private first(filter: Filter<T>): T | undefined {
    for (const doc of this.candidates(filter)) if (matchesFilter(doc, filter)) return doc;
    return undefined;
  }

  async find(filter: Filter<T>, options: FindOptions<T> = {}): Promise<T[]> {
    const out = [...this.candidates(filter)].filter((d) => matchesFilter(d, filter));
    const sort = options.sort;
    if (sort !== undefined) {
      out.sort((a, b) => sort.direction * compare((a as Row)[sort.field], (b as Row)[sort.field]));
    }
    return options.limit === undefined ? out : out.slice(0, options.limit);
  }

  async count(filter: Filter<T>): Promise<number> {
    let n = 0;
    for (const doc of this.candidates(filter)) if (matchesFilter(doc, filter)) n++;
    return n;
  }

  async updateOne(filter: Filter<T>, update: Update<T>): Promise<T | undefined> {
    // Check and write with no await between them: the update is atomic, as in MongoDB.
    const current = this.first(filter);
    if (current === undefined) return undefined;
    const next = applyUpdate(current, update);
    this.unindex(current);
    try {
      this.checkUnique(next);
    } catch (err) {
      this.index(current);
      throw err;
    }
    this.docs.set(next._id, next);
    this.index(next);
    return next;
  }

  async deleteMany(filter: Filter<T>): Promise<number> {
    const gone = [...this.candidates(filter)].filter((d) => matchesFilter(d, filter));
    for (const doc of gone) {
      this.unindex(doc);
      this.docs.delete(doc._id);
    }
    return gone.length;
  }

  private insert(doc: T): void {
    if (this.docs.has(doc._id)) throw new DuplicateKeyError(this.name, `_id ${doc._id}`);
    const frozen = frozenCopy(doc);
    this.checkUnique(frozen);
    this.docs.set(frozen._id, frozen);
    this.index(frozen);
  }

  /** The smallest set of documents that can match: an index hit, or all. */
  private candidates(filter: Filter<T>): Iterable<T> {
    const row = filter as Row;
    if (typeof row._id === "string") {
      const doc = this.docs.get(row._id);
      return doc === undefined ? [] : [doc];
    }
    for (const ix of this.indexes) {
      if (!ix.fields.every((f) => isEquality(row[f]))) continue;
      const ids = mapOf(ix, row).get(keyOf(ix, row)) ?? new Set<string>();
      return [...ids].map((id) => this.docs.get(id) as T);
    }
    return this.docs.values();
  }

  private checkUnique(doc: T): void {
    for (const ix of this.indexes) {
      if (!ix.unique) continue;
      const row = doc as unknown as Row;
      const key = keyOf(ix, row);
      const taken = mapOf(ix, row).get(key);
      if (taken !== undefined && taken.size > 0 && !taken.has(doc._id)) {
        throw new DuplicateKeyError(this.name, `${ix.fields.join(",")} ${key}`);
      }
    }
  }

  private index(doc: T): void {
    for (const ix of this.indexes) {
      const row = doc as unknown as Row;
      const [map, key] = [mapOf(ix, row), keyOf(ix, row)];
      let ids = map.get(key);
      if (ids === undefined) {
        ids = new Set();
        map.set(key, ids);
      }
      ids.add(doc._id);
    }
  }

  private unindex(doc: T): void {
    for (const ix of this.indexes) {
      const row = doc as unknown as Row;
      const [map, key] = [mapOf(ix, row), keyOf(ix, row)];
      const ids = map.get(key);
      ids?.delete(doc._id);
      if (ids?.size === 0) map.delete(key);
    }
  }
}

/** Whether a row's key in the index is a string field's value itself (see keyOf). */
function byString(ix: MemoryIndex, row: Row): boolean {
  return ix.fields.length === 1 && typeof row[ix.fields[0] ?? ""] === "string";
}

/** Where the index keeps the row's key. */
function mapOf(ix: MemoryIndex, row: Row): Map<string, Set<string>> {
  return byString(ix, row) ? ix.strings : ix.entries;
}

/**
 * A row's key in an index. One string field is keyed by the string itself,
 * which holds its hash already: a key built per document (a prefix added, or
 * JSON) is a new string hashed again, on every insert of a serial.
 */
function keyOf(ix: MemoryIndex, row: Row): string {
  return byString(ix, row) ? (row[ix.fields[0] ?? ""] as string) : JSON.stringify(ix.fields.map((f) => row[f] ?? null));
}

function applyUpdate<T extends Doc>(doc: T, update: Update<T>): T {
  const next: Row = { ...(doc as unknown as Row), ...(update.$set ?? {}) };
  for (const [field, by] of Object.entries(update.$inc ?? {})) {
    next[field] = ((next[field] as number | undefined) ?? 0) + (by as number);
  }
  for (const [field, v] of Object.entries(update.$max ?? {})) {
    next[field] = Math.max((next[field] as number | undefined) ?? Number.NEGATIVE_INFINITY, v as number);
  }
  for (const field of Object.keys(update.$unset ?? {})) delete next[field];
  return frozenCopy(next) as unknown as T;
}

/**
 * A frozen deep copy of a stored document. Documents are plain data
 * (objects, arrays, strings, numbers, booleans, bytes), so a direct walk is enough,
 * and much cheaper than structuredClone on the emission path.
 */
function frozenCopy<V>(value: V): V {
  if (typeof value !== "object" || value === null) return value;
  // A frozen flat document (a serial's, as the registry builds them) cannot change: it is kept as it is.
  if (isFrozenFlat(value)) return value;
  // Bytes (an encoded code block) are shared, not copied: nothing in the mesh writes into stored bytes.
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return Object.freeze(value.map((v: unknown) => frozenCopy(v))) as V;
  const out: Record<string, unknown> = {};
  const from = value as Record<string, unknown>;
  // Plain data only (see above): own enumerable keys, walked without Object.entries' pairs.
  for (const k of Object.keys(from)) {
    const v = from[k];
    out[k] = typeof v === "object" && v !== null ? frozenCopy(v) : v;
  }
  return Object.freeze(out) as V;
}

/** A frozen object whose fields are all scalars (no nested object or array that could still change). */
function isFrozenFlat(value: object): boolean {
  if (!Object.isFrozen(value) || Array.isArray(value)) return false;
  const row = value as Row;
  for (const k in row) {
    const v = row[k];
    if (typeof v === "object" && v !== null) return false;
  }
  return true;
}
