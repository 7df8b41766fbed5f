/**
 * A hash table from string keys to values (the embedded store's documents
 * of a bulk collection by _id) that keeps its keys as UTF-16 code units in
 * one typed array rather than as strings. A collection of a document per
 * serial then holds no string per serial: the keys, their hashes and the
 * table are a few flat arrays the garbage collector never walks, where a
 * Map held two strings per key (the key and its flattened text), all
 * promoted and marked again and again, and probed through scattered memory.
 *
 * Entries are appended: an entry number names one key (SharedRow lists its
 * documents by entry). A deleted key's entry stays, dead, and the key
 * inserted again gets a new one, until dead entries outnumber live ones:
 * then the live ones are moved together and `moved` is told where each went.
 * Open addressing with linear probing; a deleted key's slot is a tombstone
 * until the next rehash.
 */
export class KeyTable<V extends object> {
  /**
   * Pairs: at 2i, 0 (empty), -1 (a deleted key's) or the key's entry + 1; at
   * 2i + 1, its hash, so that a probe reads one place, not the slot and then
   * the entry's hash elsewhere.
   */
  private slots = new Int32Array(128);
  /** Slots not empty: entries' and tombstones'. */
  private filled = 0;
  private chars = new Uint16Array(1024);
  private charsUsed = 0;
  private starts = new Uint32Array(64);
  private lengths = new Uint32Array(64);
  private hashes = new Int32Array(64);
  /** Each entry's value; undefined once its key was deleted. */
  private readonly values: (V | undefined)[] = [];
  /** Live keys. */
  size = 0;

  /** `moved(to)` after live entries moved: entry `e` is now `to[e]`, or -1 if its key was deleted. */
  constructor(private readonly moved: (to: Int32Array) => void = () => undefined) {}

  get(key: string): V | undefined {
    const slot = this.locate(key.length, this.stage(key));
    return slot < 0 ? undefined : this.values[(this.slots[2 * slot] ?? 0) - 1];
  }

  has(key: string): boolean {
    return this.locate(key.length, this.stage(key)) >= 0;
  }

  /** Sets the key's value; its entry number (the same one for as long as the key is not deleted). */
  set(key: string, value: V): number {
    const h = this.stage(key);
    const slot = this.locate(key.length, h);
    if (slot < 0) return this.insert(key.length, h, value, ~slot);
    const entry = (this.slots[2 * slot] ?? 0) - 1;
    this.values[entry] = value;
    return entry;
  }

  /** Adds the key with its value, in one probe; its entry number, or -1 when the key is there already (left as it is). */
  add(key: string, value: V): number {
    const h = this.stage(key);
    const slot = this.locate(key.length, h);
    return slot < 0 ? this.insert(key.length, h, value, ~slot) : -1;
  }

  delete(key: string): boolean {
    const slot = this.locate(key.length, this.stage(key));
    if (slot < 0) return false;
    this.values[(this.slots[2 * slot] ?? 0) - 1] = undefined;
    this.slots[2 * slot] = -1;
    this.size--;
    if (this.values.length - this.size > Math.max(COMPACT_AT, this.size)) this.compact();
    return true;
  }

  /** The value of entry `entry`; undefined if its key was deleted since. */
  valueAt(entry: number): V | undefined {
    return this.values[entry];
  }

  /** The key of entry `entry`. */
  keyAt(entry: number): string {
    const start = this.starts[entry] ?? 0;
    const end = start + (this.lengths[entry] ?? 0);
    let key = "";
    // In pieces: fromCharCode takes one argument per code unit.
    for (let at = start; at < end; at += 4096) key += String.fromCharCode(...this.chars.subarray(at, Math.min(end, at + 4096)));
    return key;
  }

  /** The live values, without their keys. */
  *liveValues(): IterableIterator<V> {
    for (const value of this.values) if (value !== undefined) yield value;
  }

  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (let entry = 0; entry < this.values.length; entry++) {
      const value = this.values[entry];
      if (value !== undefined) yield [this.keyAt(entry), value];
    }
  }

  /**
   * Writes the key's code units just past those kept (staged: kept only if
   * the key is added) and returns its hash: one pass over the string serves
   * hashing it, comparing it and keeping it. FNV-1a, then mixed (murmur3's
   * finalizer) so that the low bits the slots use are well spread.
   */
  private stage(key: string): number {
    const n = key.length;
    if (this.charsUsed + n > this.chars.length) this.chars = grown(this.chars, Math.max(this.chars.length * 2, this.charsUsed + n));
    const chars = this.chars;
    const at = this.charsUsed;
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      chars[at + i] = c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** The slot of the staged key (`length` code units), or ~(the empty slot it would take). */
  private locate(length: number, h: number): number {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i] ?? 0;
      if (s === 0) return ~i;
      if (s > 0 && slots[2 * i + 1] === h && this.holds(s - 1, length)) return i;
    }
  }

  /** Whether entry `entry`'s key is the staged one. */
  private holds(entry: number, length: number): boolean {
    if (this.lengths[entry] !== length) return false;
    const chars = this.chars;
    const [start, staged] = [this.starts[entry] ?? 0, this.charsUsed];
    for (let i = 0; i < length; i++) if (chars[start + i] !== chars[staged + i]) return false;
    return true;
  }

  private insert(length: number, h: number, value: V, slot: number): number {
    const entry = this.append(length, h, value);
    this.slots[2 * slot] = entry + 1;
    this.slots[2 * slot + 1] = h;
    this.size++;
    if (++this.filled * 4 > this.slots.length) this.rehash();
    return entry;
  }

  /** A new entry of the staged key (`length` code units), which it keeps. */
  private append(length: number, h: number, value: V): number {
    const entry = this.values.length;
    if (entry === this.starts.length) {
      this.starts = grown(this.starts, entry * 2);
      this.lengths = grown(this.lengths, entry * 2);
      this.hashes = grown(this.hashes, entry * 2);
    }
    this.starts[entry] = this.charsUsed;
    this.charsUsed += length;
    this.lengths[entry] = length;
    this.hashes[entry] = h;
    this.values.push(value);
    return entry;
  }

  /** Moves the live entries together, dropping dead ones' keys, and rebuilds the slots. */
  private compact(): void {
    const live = this.values.length;
    const to = new Int32Array(live).fill(-1);
    const [chars, starts, lengths, hashes] = [this.chars, this.starts, this.lengths, this.hashes];
    const values = this.values.splice(0);
    this.chars = new Uint16Array(Math.max(1024, this.charsUsed));
    this.charsUsed = 0;
    [this.starts, this.lengths, this.hashes] = [new Uint32Array(64), new Uint32Array(64), new Int32Array(64)];
    for (let entry = 0; entry < live; entry++) {
      const value = values[entry];
      if (value === undefined) continue;
      const [start, length] = [starts[entry] ?? 0, lengths[entry] ?? 0];
      // Staged as stage() would, from the old code units.
      this.chars.set(chars.subarray(start, start + length), this.charsUsed);
      to[entry] = this.append(length, hashes[entry] ?? 0, value);
    }
    this.rehash();
    this.moved(to);
  }

  /** Rebuilds the slots without tombstones: twice as many when live keys fill a quarter of them. */
  private rehash(): void {
    const pairs = this.slots.length >> 1;
    const size = this.size * 4 > pairs ? pairs * 2 : pairs;
    const slots = new Int32Array(2 * size);
    const mask = size - 1;
    for (let entry = 0; entry < this.values.length; entry++) {
      if (this.values[entry] === undefined) continue;
      const h = this.hashes[entry] ?? 0;
      let i = h & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = entry + 1;
      slots[2 * i + 1] = h;
    }
    this.slots = slots;
    this.filled = this.size;
  }
}

/** Dead entries are moved out once there are more than this many, and more than live ones. */
const COMPACT_AT = 1024;

type Typed = Uint16Array | Uint32Array | Int32Array;

function grown<A extends Typed>(from: A, length: number): A {
  const to = new (from.constructor as new (n: number) => A)(length);
  to.set(from);
  return to;
}
