import type { SerialDoc } from "./emission-orders.js";
import type { SerialRegistry } from "./serial-registry.js";

/**
 * Registers serials in their order, stopping at the first one taken, so
 * that what any try registered is a prefix of the list (the same list on
 * every try: a block's serials derived from the order's seed and never
 * swapped, or a SELF_MADE order's from its request). A try after a crash then finds the serials an earlier try
 * registered without reading each one's holder: their end is found with a
 * binary search of about log2(n) reads by key, and a taken serial past it is
 * another order's (a serial is ours when its entry is the one we insert:
 * same order, product and chunk). Returns the position of that serial (a
 * collision: the caller falls back to checking every holder), or undefined
 * when all are ours.
 *
 * The search is sound because ours are exactly a prefix: every ordered
 * insert starts at 0 or at the verified end of ours, inserts contiguously
 * and stops at its first duplicate; racing tries of the same block only
 * of the same list only extend the prefix, and a collision ends this path.
 */
export async function registerInOrder(registry: SerialRegistry, docs: readonly SerialDoc[]): Promise<number | undefined> {
  let pos = 0;
  while (pos < docs.length) {
    const stop = await registry.takeInOrder(docs.slice(pos));
    if (stop === undefined) return undefined;
    const at = pos + stop;
    if (!(await ours(registry, docs[at]))) return at;
    pos = await endOfOurs(registry, docs, at);
  }
  return undefined;
}

/** The first position past `from` (ours) that is not ours: galloping, then bisecting. */
async function endOfOurs(registry: SerialRegistry, docs: readonly SerialDoc[], from: number): Promise<number> {
  let lo = from;
  let hi = docs.length;
  for (let step = 1; lo + step < docs.length; step *= 2) {
    if (!(await ours(registry, docs[lo + step]))) {
      hi = lo + step;
      break;
    }
    lo += step;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await ours(registry, docs[mid])) lo = mid;
    else hi = mid;
  }
  return lo + 1;
}

async function ours(registry: SerialRegistry, doc: SerialDoc | undefined): Promise<boolean> {
  if (doc === undefined) return false;
  const held = await registry.holderOf(doc._id);
  return held !== undefined && held.orderId === doc.orderId && held.product === doc.product && held.chunk === doc.chunk;
}
