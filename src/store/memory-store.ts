import { compare, isEquality, matchesFilter } from "./filter-match.js";
import { applyUpdate, frozenCopy } from "./frozen-copy.js";
import { KeyTable } from "./key-table.js";
import { SharedRow } from "./shared-row.js";
import {
  DuplicateKeyError,
  type Collection,
  type CollectionOptions,
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

  async collection<T extends Doc>(
    name: string,
    indexes: readonly IndexSpec<T>[] = [],
    options: CollectionOptions = {},
  ): Promise<Collection<T>> {
    let found = this.collections.get(name);
    if (found === undefined) {
      found = new MemoryCollection<Doc>(name, indexes as readonly IndexSpec<Doc>[], options.bulk === true);
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
  strings: Map<string, Set<Member>>;
  /** By the JSON text of the values, for every other key. */
  entries: Map<string, Set<Member>>;
}

/** What an index lists: a document's _id, or a row shared by documents of the same key (shared-row.ts). */
type Member = string | SharedRow;

type Row = Record<string, unknown>;

/** Documents by _id: a Map, or a key table in bulk collections (key-table.ts). */
interface Docs<V> extends Iterable<[string, V]> {
  get(id: string): V | undefined;
  has(id: string): boolean;
  set(id: string, value: V): unknown;
  delete(id: string): boolean;
}

class MemoryCollection<T extends Doc> implements Collection<T> {
  /** Each document by _id: itself, or the row it shares. */
  private readonly docs: Docs<T | SharedRow>;
  /** In bulk collections: where the documents are (docs), by entry. */
  private readonly keys: KeyTable<T | SharedRow> | undefined;
  private readonly indexes: MemoryIndex[];
  /** Whether documents of scalars inserted in a run share a row: in bulk collections with no unique key but _id. */
  private readonly sharing: boolean;
  /** The row the next document joins if it has the same fields. */
  private last: SharedRow | undefined;

  constructor(
    private readonly name: string,
    specs: readonly IndexSpec<T>[],
    bulk: boolean,
  ) {
    this.indexes = specs.map((s) => ({ fields: s.fields, unique: s.unique === true, strings: new Map(), entries: new Map() }));
    this.keys = bulk ? new KeyTable((to) => this.moved(to)) : undefined;
    this.docs = this.keys ?? new Map();
    this.sharing = bulk && specs.every((s) => s.unique !== true && !s.fields.includes("_id"));
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
    for (let i = 0; i < docs.length; i++) {
      try {
        this.insert(docs[i] as T);
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
    // Before current leaves its index entries: a unique key it holds itself is no conflict.
    this.checkUnique(next);
    this.detach(current);
    this.docs.set(next._id, next);
    this.index(next._id, next as unknown as Row);
    return next;
  }

  async deleteMany(filter: Filter<T>): Promise<number> {
    const gone = [...this.candidates(filter)].filter((d) => matchesFilter(d, filter));
    for (const doc of gone) {
      this.detach(doc);
      this.docs.delete(doc._id);
    }
    return gone.length;
  }

  private insert(doc: T): void {
    if (this.keys !== undefined && this.sharing && this.share(this.keys, doc)) return;
    if (this.docs.has(doc._id)) throw new DuplicateKeyError(this.name, `_id ${doc._id}`);
    const frozen = frozenCopy(doc);
    this.checkUnique(frozen);
    this.docs.set(frozen._id, frozen);
    this.index(frozen._id, frozen as unknown as Row);
  }

  /**
   * Keeps `doc` in the row of the documents inserted just before it, or a
   * new one; false when it holds an object (kept whole). Its _id is looked up
   * and added in one probe of the key table.
   */
  private share(keys: KeyTable<T | SharedRow>, doc: T): boolean {
    const row = doc as unknown as Row;
    const last = this.last;
    const shared = last?.open === true && last.fits(row) ? last : SharedRow.of(row);
    if (shared === undefined) return false;
    const entry = keys.add(doc._id, shared);
    if (entry < 0) throw new DuplicateKeyError(this.name, `_id ${doc._id}`);
    if (shared !== last) {
      this.last = shared;
      this.index(shared, shared.fields);
    }
    shared.join(entry);
    return true;
  }

  /** The key table moved its entries (after many deletes): its shared rows follow. */
  private moved(to: Int32Array): void {
    const keys = this.keys;
    if (keys === undefined) return;
    const rows = new Set<SharedRow>();
    for (const held of keys.liveValues()) if (held instanceof SharedRow) rows.add(held);
    for (const row of rows) row.moved(to, (e) => keys.valueAt(e));
  }

  /** Takes a document out of its index entries, before it is deleted or replaced. */
  private detach(doc: T): void {
    const held = this.docs.get(doc._id);
    if (!(held instanceof SharedRow)) {
      this.unindex(doc._id, doc as unknown as Row);
      return;
    }
    held.leave();
    if (held.live === 0) this.unindex(held, held.fields);
  }

  /** The smallest set of documents that can match: an index hit, or all. */
  private candidates(filter: Filter<T>): Iterable<T> {
    const row = filter as Row;
    if (typeof row._id === "string") {
      const held = this.docs.get(row._id);
      return held === undefined ? [] : [docOf(row._id, held)];
    }
    for (const ix of this.indexes) {
      if (!ix.fields.every((f) => isEquality(row[f]))) continue;
      return this.docsOf(mapOf(ix, row).get(keyOf(ix, row)));
    }
    return this.all();
  }

  /** The documents an index entry lists. */
  private docsOf(members: Set<Member> | undefined): T[] {
    const out: T[] = [];
    for (const m of members ?? []) {
      if (typeof m === "string") out.push(this.docs.get(m) as T);
      // A row's entries include those that left it since (deleted, or updated into documents of their own).
      else for (const e of m.entries) if (this.keys?.valueAt(e) === m) out.push(m.doc(this.keys.keyAt(e)));
    }
    return out;
  }

  private *all(): Iterable<T> {
    for (const [id, held] of this.docs) yield docOf(id, held);
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

  /** Lists `member` (a document's _id, or a shared row) under `row`'s key in every index. */
  private index(member: Member, row: Row): void {
    for (const ix of this.indexes) {
      const [map, key] = [mapOf(ix, row), keyOf(ix, row)];
      let members = map.get(key);
      if (members === undefined) {
        members = new Set();
        map.set(key, members);
      }
      members.add(member);
    }
  }

  private unindex(member: Member, row: Row): void {
    for (const ix of this.indexes) {
      const [map, key] = [mapOf(ix, row), keyOf(ix, row)];
      const members = map.get(key);
      members?.delete(member);
      if (members?.size === 0) map.delete(key);
    }
  }
}

function docOf<T extends Doc>(id: string, held: T | SharedRow): T {
  return held instanceof SharedRow ? held.doc<T>(id) : held;
}

/** Whether a row's key in the index is a string field's value itself (see keyOf). */
function byString(ix: MemoryIndex, row: Row): boolean {
  return ix.fields.length === 1 && typeof row[ix.fields[0] ?? ""] === "string";
}

/** Where the index keeps the row's key. */
function mapOf(ix: MemoryIndex, row: Row): Map<string, Set<Member>> {
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
