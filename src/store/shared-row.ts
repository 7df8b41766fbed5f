import type { Doc } from "./store.js";

type Row = Record<string, unknown>;

/**
 * Documents of the embedded store's bulk collection inserted one after
 * another with the same fields but their _id (the serials of one block: the
 * same order, product and chunk), kept as their _ids' entries in the
 * collection's key table (key-table.ts) and this one row of their other
 * fields. A serial then costs the store its _id's entry and no object of its
 * own: one per serial was kept for good, with its index entry, the largest
 * part of the Emission server's garbage collection and of its registry's time.
 *
 * A document is rebuilt, frozen, whenever it is read; what a caller sees is
 * the same as for a document kept whole. Only documents of scalars share a
 * row (nothing in them could change after the insert).
 */
export class SharedRow {
  /** The key table's entry of every _id that joined, in order; one deleted or updated since is no longer held by this row (the table's value says which is). */
  entries: number[] = [];
  /** Documents still held by this row. */
  live = 0;
  /** Whether documents may still join: not once one left (a row whose last document left is out of the indexes for good). */
  open = true;

  private constructor(
    readonly fields: Readonly<Row>,
    private readonly width: number,
  ) {}

  /** The row of `doc`'s fields but _id; undefined when one of them is an object (an array, bytes, a nested document). */
  static of(doc: Row): SharedRow | undefined {
    const fields: Row = {};
    let width = 0;
    for (const k in doc) {
      if (k === "_id") continue;
      const v = doc[k];
      if (typeof v === "object" && v !== null) return undefined;
      fields[k] = v;
      width++;
    }
    return new SharedRow(Object.freeze(fields), width);
  }

  /** Whether `doc` has exactly this row's fields but _id, with the same values. */
  fits(doc: Row): boolean {
    let width = 0;
    for (const k in doc) {
      if (k === "_id") continue;
      if (!Object.is(doc[k], this.fields[k]) || !(k in this.fields)) return false;
      width++;
    }
    return width === this.width;
  }

  join(entry: number): void {
    this.entries.push(entry);
    this.live++;
  }

  /** Follows its documents' entries to where the key table moved them (to[e], -1: deleted), keeping those still held by this row. */
  moved(to: Int32Array, holder: (entry: number) => unknown): void {
    this.entries = this.entries.map((e) => to[e] ?? -1).filter((e) => e >= 0 && holder(e) === this);
  }

  leave(): void {
    this.live--;
    this.open = false;
  }

  /** The document of `id`, one of this row's. */
  doc<T extends Doc>(id: string): T {
    return Object.freeze({ _id: id, ...this.fields }) as T;
  }
}
