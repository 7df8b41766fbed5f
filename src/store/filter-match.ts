import type { Filter, Range } from "./store.js";

export function isEquality(v: unknown): boolean {
  return v !== undefined && (typeof v !== "object" || v === null);
}

/**
 * Whether a document matches a filter of the store interface, as MongoDB
 * would decide it: the embedded store's query engine, and the MongoDB store's
 * check of a condition it reads by `_id` (on FerretDB, see mongo-store.ts).
 */
export function matchesFilter<T>(doc: T, filter: Filter<T>): boolean {
  const row = doc as Record<string, unknown>;
  for (const [field, want] of Object.entries(filter as Record<string, unknown>)) {
    if (want === undefined) continue;
    const have = row[field];
    if (isEquality(want)) {
      if (have !== want) return false;
    } else if (!inRange(have, want as Range<unknown>)) {
      return false;
    }
  }
  return true;
}

function inRange(have: unknown, r: Range<unknown>): boolean {
  if (r.$in !== undefined && !r.$in.includes(have)) return false;
  if (r.$ne !== undefined && have === r.$ne) return false;
  // As in MongoDB, a missing field is in no range.
  const bounded = r.$gt !== undefined || r.$gte !== undefined || r.$lt !== undefined || r.$lte !== undefined;
  if (bounded && (have === undefined || have === null)) return false;
  if (r.$gt !== undefined && !(compare(have, r.$gt) > 0)) return false;
  if (r.$gte !== undefined && !(compare(have, r.$gte) >= 0)) return false;
  if (r.$lt !== undefined && !(compare(have, r.$lt) < 0)) return false;
  if (r.$lte !== undefined && !(compare(have, r.$lte) <= 0)) return false;
  return true;
}

export function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  return (a as number | string) < (b as number | string) ? -1 : 1;
}
