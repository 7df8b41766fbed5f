import { type SerialDoc, serialKey } from "./emission-orders.js";
import type { SerialRegistry } from "./serial-registry.js";

/** The block whose serials are registered: whose a registry entry must be to count as ours. */
export interface BlockKey {
  orderId: string;
  product: number;
  chunk: number;
  gtin: string;
}

/**
 * Registers a block's serials in their order, stopping at the first one
 * taken, so that what any try registered is a prefix of the list (with the
 * same list on every try: serials derived from the order's seed, never
 * swapped). A try after a crash then finds the serials an earlier try
 * registered without reading each one's holder: their end is found with a
 * binary search of about log2(n) reads by key, and a taken serial past it is
 * another order's. Returns that serial (a collision to swap; the caller
 * then falls back to checking every holder), or undefined when all are ours.
 *
 * The search is sound because ours are exactly a prefix: every ordered
 * insert starts at 0 or at the verified end of ours, inserts contiguously
 * and stops at its first duplicate; racing tries of the same block only
 * extend the prefix, and a collision ends this path.
 */
export async function registerInOrder(registry: SerialRegistry, block: BlockKey, serials: readonly string[]): Promise<string | undefined> {
  const docs: SerialDoc[] = serials.map((serial) => ({ _id: serialKey(block.gtin, serial), ...whose(block) }));
  let pos = 0;
  while (pos < docs.length) {
    const stop = await registry.takeInOrder(docs.slice(pos));
    if (stop === undefined) return undefined;
    const at = pos + stop;
    if (!(await ours(registry, block, docs[at]))) return serials[at];
    pos = await endOfOurs(registry, block, docs, at);
  }
  return undefined;
}

/** The first position past `from` (ours) that is not ours: galloping, then bisecting. */
async function endOfOurs(registry: SerialRegistry, block: BlockKey, docs: readonly SerialDoc[], from: number): Promise<number> {
  let lo = from;
  let hi = docs.length;
  for (let step = 1; lo + step < docs.length; step *= 2) {
    if (!(await ours(registry, block, docs[lo + step]))) {
      hi = lo + step;
      break;
    }
    lo += step;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await ours(registry, block, docs[mid])) lo = mid;
    else hi = mid;
  }
  return lo + 1;
}

async function ours(registry: SerialRegistry, block: BlockKey, doc: SerialDoc | undefined): Promise<boolean> {
  if (doc === undefined) return false;
  const held = await registry.holderOf(doc._id);
  return held !== undefined && held.orderId === block.orderId && held.product === block.product && held.chunk === block.chunk;
}

function whose(block: BlockKey): Omit<SerialDoc, "_id"> {
  return { orderId: block.orderId, product: block.product, chunk: block.chunk };
}
