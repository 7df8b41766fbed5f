import type { Doc, Update } from "./store.js";

type Row = Record<string, unknown>;

/** The document `update` makes of `doc`, as a frozen copy (MongoDB's $set, $inc, $max, $unset). */
export function applyUpdate<T extends Doc>(doc: T, update: Update<T>): T {
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
export function frozenCopy<V>(value: V): V {
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
