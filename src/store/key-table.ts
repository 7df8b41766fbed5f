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
    const slot = this.locate(key, hashOf(key));
    return slot < 0 ? undefined : this.values[(this.slots[2 * slot] ?? 0) - 1];
  }

  has(key: string): boolean {
    return this.locate(key, hashOf(key)) >= 0;
  }

  /** Sets the key's value; its entry number (the same one for as long as the key is not deleted). */
  set(key: string, value: V): number {
    const h = hashOf(key);
    const slot = this.locate(key, h);
    if (slot < 0) return this.insert(key, h, value, ~slot);
    const entry = (this.slots[2 * slot] ?? 0) - 1;
    this.values[entry] = value;
    return entry;
  }

  /** Adds the key with its value, in one probe; its entry number, or -1 when the key is there already (left as it is). */
  add(key: string, value: V): number {
    const h = hashOf(key);
    const slot = this.locate(key, h);
    return slot < 0 ? this.insert(key, h, value, ~slot) : -1;
  }

  delete(key: string): boolean {
    const slot = this.locate(key, hashOf(key));
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

  /** The key's slot, or ~(the empty slot it would take). */
  private locate(key: string, h: number): number {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i] ?? 0;
      if (s === 0) return ~i;
      if (s > 0 && slots[2 * i + 1] === h && this.holds(s - 1, key)) return i;
    }
  }

  private holds(entry: number, key: string): boolean {
    if (this.lengths[entry] !== key.length) return false;
    const chars = this.chars;
    const start = this.starts[entry] ?? 0;
    for (let i = 0; i < key.length; i++) if (chars[start + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private insert(key: string, h: number, value: V, slot: number): number {
    const entry = this.append(key, h, value);
    this.slots[2 * slot] = entry + 1;
    this.slots[2 * slot + 1] = h;
    this.size++;
    if (++this.filled * 4 > this.slots.length) this.rehash();
    return entry;
  }

  /** A new entry of `key` (a string, or its code units). */
  private append(key: string | Uint16Array, h: number, value: V): number {
    const entry = this.values.length;
    if (entry === this.starts.length) {
      this.starts = grown(this.starts, entry * 2);
      this.lengths = grown(this.lengths, entry * 2);
      this.hashes = grown(this.hashes, entry * 2);
    }
    if (this.charsUsed + key.length > this.chars.length)
      this.chars = grown(this.chars, Math.max(this.chars.length * 2, this.charsUsed + key.length));
    const start = this.charsUsed;
    if (typeof key === "string") for (let i = 0; i < key.length; i++) this.chars[start + i] = key.charCodeAt(i);
    else this.chars.set(key, start);
    this.charsUsed += key.length;
    this.starts[entry] = start;
    this.lengths[entry] = key.length;
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
      const start = starts[entry] ?? 0;
      const key = chars.subarray(start, start + (lengths[entry] ?? 0));
      to[entry] = this.append(key, hashes[entry] ?? 0, value);
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

/** FNV-1a over the code units, then mixed (murmur3's finalizer) so that the low bits the slots use are well spread. */
function hashOf(key: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
