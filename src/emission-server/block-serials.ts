import { derivedSerials, randomSerials } from "../domain/serial-generator.js";
import { chunkKey, type SerialChunkDoc, type SerialDoc, serialKey, serialKeys } from "./emission-orders.js";
import type { EmitterFaults } from "./emitter-faults.js";
import { registerInOrder } from "./ordered-registration.js";
import type { SerialRegistry } from "./serial-registry.js";

/** Which block's OPERATOR serials to allocate. */
export interface BlockSerialsSpec {
  orderId: string;
  product: number;
  chunk: number;
  gtin: string;
  count: number;
  /** Characters per serial (the product group's rule). */
  length: number;
  /** The order's serial seed: its serials are derived, not drawn (orders stored before it had none). */
  seed?: string | undefined;
}

/**
 * OPERATOR serials of one block, allocated so that a crash at any point
 * leaves no serial in the registry that is not on the block's codes.
 *
 * The block's serials are fixed before any is taken in the registry, the
 * same for every instance and every try. With the order's seed they are
 * derived from it and the block's key, and a chunk document is written only
 * when one of them had to be swapped (read first, so a swap made by an earlier
 * try holds). Without a seed (an order stored before seeds), the chunk
 * document is written first and is the block's intent: whoever comes first
 * (insert-or-load on its unique _id) fixes the serials. Only then are they
 * taken in the registry, an idempotent insert: a serial already registered
 * for this order, product and chunk is ours from an earlier try (derived,
 * unswapped serials are taken in order, so a retry finds ours with a few
 * reads: ordered-registration.ts; otherwise each taken one's holder is read). A serial
 * another order holds (a random collision) is swapped in the chunk document
 * (written, or updated conditional on its revision) before the new one is
 * registered, so the registry never gets ahead of the chunk document and
 * never holds more than `count` serials for the block.
 */
export async function allocateBlockSerials(registry: SerialRegistry, spec: BlockSerialsSpec, faults?: EmitterFaults): Promise<string[]> {
  const key = chunkKey(spec.orderId, spec.product, spec.chunk);
  // Seeded: one read (a miss, unless a serial was swapped), no write. Else insert-or-load: one write, no read.
  const stored = spec.seed === undefined ? undefined : await registry.chunk(key);
  let doc: Chunk =
    stored !== undefined
      ? { ...stored, stored: true }
      : spec.seed !== undefined
        ? { _id: key, serials: derivedSerials(spec.seed, key, spec.count, spec.length), rev: 0, stored: false }
        : { ...(await registry.fixChunk({ _id: key, serials: randomSerials(spec.count, spec.length), rev: 0 })), stored: true };
  await faults?.serialsFixed?.(key);
  for (let attempt = 1; attempt <= MAX_SWAPS; attempt++) {
    // Derived and never swapped: the same list on every try, registered in order (a retry reads ~log2(n) holders, not n).
    const inOrder = !doc.stored && spec.seed !== undefined;
    const collision = inOrder ? await registerInOrder(registry, entriesOf(spec, doc.serials)) : undefined;
    const foreign = !inOrder ? await register(registry, spec, doc.serials) : collision === undefined ? [] : [doc.serials[collision] ?? ""];
    if (foreign.length === 0) return doc.serials;
    doc = await swap(registry, doc, foreign, spec.length);
  }
  throw new Error(`could not take ${spec.count} unused serials for block ${key} in ${MAX_SWAPS} rounds`);
}

/** A block's serials, and whether a chunk document holds them (derived ones need none until one is swapped). */
type Chunk = SerialChunkDoc & { stored: boolean };

/** Collisions are rare; a chunk that keeps colliding is retried later with the order (see Emitter.drain). */
const MAX_SWAPS = 50;

/** The registry entries of the block's serials (the embedded store keeps their fields but _id once for the block: shared-row.ts). */
function entriesOf(spec: BlockSerialsSpec, serials: readonly string[]): SerialDoc[] {
  const { orderId, product, chunk, gtin } = spec;
  return serialKeys(gtin, serials).map((_id) => ({ _id, orderId, product, chunk }));
}

/** Takes the serials in the registry; returns those another order already holds. */
async function register(registry: SerialRegistry, spec: BlockSerialsSpec, serials: readonly string[]): Promise<string[]> {
  const { orderId, product, chunk, gtin } = spec;
  const duplicates = await registry.take(entriesOf(spec, serials));
  if (duplicates.length === 0) return [];
  const refused = duplicates.map((i) => serials[i] ?? "");
  const holders = await registry.holders(refused.map((s) => serialKey(gtin, s)));
  const ours = new Set(holders.filter((h) => h.orderId === orderId && h.product === product && h.chunk === chunk).map((h) => h._id));
  return refused.filter((s) => !ours.has(serialKey(gtin, s)));
}

/** Replaces `foreign` serials in the chunk document by fresh ones; a concurrent swap wins and is read back. */
async function swap(registry: SerialRegistry, doc: Chunk, foreign: readonly string[], length: number): Promise<Chunk> {
  const avoid = new Set(doc.serials);
  const fresh = randomSerials(foreign.length * 2, length).filter((s) => !avoid.has(s));
  const replacement = new Map(foreign.map((s, i) => [s, fresh[i] ?? ""]));
  if ([...replacement.values()].includes("")) return doc; // drew too few unused serials (tiny serial space): try again
  const serials = doc.serials.map((s) => replacement.get(s) ?? s);
  // Derived serials not written yet: the first swap is written by insert-or-load, so racing tries share one.
  if (!doc.stored) return { ...(await registry.fixChunk({ _id: doc._id, serials, rev: 1 })), stored: true };
  const { stored: _, ...current } = doc;
  const updated = await registry.swapChunk(current, serials);
  const now = updated ?? (await registry.chunk(doc._id));
  return now === undefined ? doc : { ...now, stored: true };
}
