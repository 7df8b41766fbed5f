import type { Document } from "mongodb";

/** Reads or deletes in flight at once when a key list is done one key at a time. */
const KEYS_AT_ONCE = 8;

/**
 * The keys of a filter that is exactly `{ _id: { $in: keys } }`, else
 * undefined. FerretDB 1.x on SQLite pushes only `_id` equality down to
 * SQL: an `$in` over `_id` scans and decodes the whole collection (16 s for
 * 1 000 keys among 100 000 serials on a 2-core machine, while one read by
 * `_id` takes a few milliseconds whatever the size), so there such a filter
 * is run as one operation per key.
 */
export function idsIn(filter: Document): readonly unknown[] | undefined {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== "_id") return undefined;
  const id: unknown = filter._id;
  if (typeof id !== "object" || id === null || Array.isArray(id)) return undefined;
  const ops = Object.keys(id);
  const list: unknown = (id as Document).$in;
  return ops.length === 1 && Array.isArray(list) ? list : undefined;
}

/** Runs `each` for every key, a few at a time; results in key order. */
export async function byKey<R>(keys: readonly unknown[], each: (key: unknown) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      out[i] = await each(keys[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(KEYS_AT_ONCE, keys.length) }, worker));
  return out;
}
