import { randomSerials } from "../domain/serial-generator.js";
import { chunkKey, serialKey, type SerialChunkDoc } from "./emission-orders.js";
import type { EmitterFaults } from "./emitter-faults.js";
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
}

/**
 * OPERATOR serials of one block, allocated so that a crash at any point
 * leaves no serial in the registry that is not on the block's codes.
 *
 * The chunk document is written first and is the block's intent: whoever
 * comes first (insert-or-load on its unique _id) fixes the serials, and every
 * instance, or the same one after a restart, reads the same ones back. Only
 * then are they taken in the registry, an idempotent insert: a serial already
 * registered for this order, product and chunk is ours from an earlier try. A
 * serial another order holds (a random collision) is swapped in the chunk
 * document (conditional on its revision) before the new one is registered, so
 * the registry never gets ahead of the chunk document and never holds more
 * than `count` serials for the block.
 */
export async function allocateBlockSerials(registry: SerialRegistry, spec: BlockSerialsSpec, faults?: EmitterFaults): Promise<string[]> {
  const key = chunkKey(spec.orderId, spec.product, spec.chunk);
  // Insert-or-load, not read-then-insert: a new block (the usual case) costs one write and no read.
  let doc = await registry.fixChunk({ _id: key, serials: randomSerials(spec.count, spec.length), rev: 0 });
  await faults?.serialsFixed?.(key);
  for (let attempt = 1; attempt <= MAX_SWAPS; attempt++) {
    const foreign = await register(registry, spec, doc.serials);
    if (foreign.length === 0) return doc.serials;
    doc = await swap(registry, doc, foreign, spec.length);
  }
  throw new Error(`could not take ${spec.count} unused serials for block ${key} in ${MAX_SWAPS} rounds`);
}

/** Collisions are rare; a chunk that keeps colliding is retried later with the order (see Emitter.drain). */
const MAX_SWAPS = 50;

/** Takes the serials in the registry; returns those another order already holds. */
async function register(registry: SerialRegistry, spec: BlockSerialsSpec, serials: readonly string[]): Promise<string[]> {
  const { orderId, product, chunk, gtin } = spec;
  const duplicates = await registry.take(serials.map((serial) => ({ _id: serialKey(gtin, serial), orderId, product, chunk })));
  if (duplicates.length === 0) return [];
  const refused = duplicates.map((i) => serials[i] ?? "");
  const holders = await registry.holders(refused.map((s) => serialKey(gtin, s)));
  const ours = new Set(holders.filter((h) => h.orderId === orderId && h.product === product && h.chunk === chunk).map((h) => h._id));
  return refused.filter((s) => !ours.has(serialKey(gtin, s)));
}

/** Replaces `foreign` serials in the chunk document by fresh ones; a concurrent swap wins and is read back. */
async function swap(registry: SerialRegistry, doc: SerialChunkDoc, foreign: readonly string[], length: number): Promise<SerialChunkDoc> {
  const avoid = new Set(doc.serials);
  const fresh = randomSerials(foreign.length * 2, length).filter((s) => !avoid.has(s));
  const replacement = new Map(foreign.map((s, i) => [s, fresh[i] ?? ""]));
  if ([...replacement.values()].includes("")) return doc; // drew too few unused serials (tiny serial space): try again
  const updated = await registry.swapChunk(
    doc,
    doc.serials.map((s) => replacement.get(s) ?? s),
  );
  return updated ?? (await registry.chunk(doc._id)) ?? doc;
}
