import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { OrderRecordHeader } from "../core/hop/index.js";
import type { Collection, Store } from "../store/store.js";

/** One product of an emission order with its place in the block sequence. */
export interface PlannedProduct {
  gtin: string;
  quantity: number;
  serialNumberType: number;
  templateId: number;
  cisType: number;
  /** Seq of the product's first block; its blocks are consecutive. */
  firstBlock: number;
  blocks: number;
}

/** Step 6: an emission order; its lease says which instance emits it. */
export interface EmissionOrderDoc extends OrderRecordHeader {
  productGroup: number;
  releaseMethodType: number;
  products: PlannedProduct[];
  status: OrderStatus;
  blockSize: number;
  emittedBlocks: number;
  emittedCodes: number;
  /** Set by a cancel: codes of later blocks are void. */
  voidedAfterBlock?: number;
  /** Secret the OPERATOR serials are derived from, block by block (see allocateBlockSerials); absent on older orders. */
  serialSeed?: string;
}

/** A serial taken for a GTIN: the _id makes it unique per GTIN, forever. */
export interface SerialDoc {
  _id: string;
  orderId: string;
  product: number;
  /** Block-sized chunk of the product the serial belongs to (0-based). */
  chunk: number;
}

/**
 * The serials of one block, in order, read by key when the block is emitted
 * (every read of the emission path is a key lookup: fast on any backend).
 */
export interface SerialChunkDoc {
  /** "<orderId>/<product>/<chunk>" */
  _id: string;
  serials: string[];
  /** OPERATOR chunks: bumped by every swap of a serial another order held (see allocateBlockSerials). */
  rev?: number;
}

export function chunkKey(orderId: string, product: number, chunk: number): string {
  return `${orderId}/${product}/${chunk}`;
}

/**
 * Written at step 5 by instances before the intent moved into the slot
 * (SlotDoc): read by the abandoned-order sweep only, for what such a create
 * that died before step 6 left behind.
 */
export interface OrderIntentDoc {
  /** The order id. */
  _id: string;
  /** Stored-reply key of the CreateEmissionOrder call: whoever holds it may write the order. */
  claim: string;
  /** Keys of the order's SELF_MADE serial chunks. */
  chunks: string[];
  createdAt: number;
}

/**
 * One per active order: counted per participant for the limit of active
 * orders. Taken at step 5 before anything else the order will own (SELF_MADE
 * serials, serial chunks), it carries the create's intent until the order
 * document exists: what a create that died between the two left behind is
 * found by it (see takeSlotWithIntent in create-emission-order.ts, abandoned-orders.ts).
 */
export interface SlotDoc {
  /** The order id, so taking the slot again (a retry) takes nothing more. */
  _id: string;
  participantId: string;
  /** The intent, until step 6 wrote the order: the stored-reply key of the CreateEmissionOrder call (whoever holds it may write the order). */
  claim?: string;
  /** The intent: keys of the order's SELF_MADE serial chunks. */
  chunks?: string[];
  /** The intent: when the create took the slot. */
  createdAt?: number;
}

export const ACTIVE_STATUSES = [OrderStatus.PENDING, OrderStatus.READY] as const;

export interface EmissionCollections {
  orders: Collection<EmissionOrderDoc>;
  serials: Collection<SerialDoc>;
  chunks: Collection<SerialChunkDoc>;
  slots: Collection<SlotDoc>;
  intents: Collection<OrderIntentDoc>;
}

export async function openEmissionCollections(store: Store): Promise<EmissionCollections> {
  return {
    orders: await store.collection<EmissionOrderDoc>("orders", [{ fields: ["participantId"] }, { fields: ["status"] }]),
    // A document per code, and the serials of each block: kept apart from the orders and replies (CollectionOptions.bulk).
    serials: await store.collection<SerialDoc>("serials", [{ fields: ["orderId"] }], { bulk: true }),
    chunks: await store.collection<SerialChunkDoc>("serial_chunks", [], { bulk: true }),
    slots: await store.collection<SlotDoc>("active_slots", [{ fields: ["participantId"] }, { fields: ["createdAt"] }]),
    intents: await store.collection<OrderIntentDoc>("order_intents", [{ fields: ["createdAt"] }]),
  };
}

export function serialKey(gtin: string, serial: string): string {
  return `${gtin}/${serial}`;
}

/**
 * serialKey of each of a GTIN's serials, as slices of one string: each key
 * concatenated on its own is a string the registry flattens (copies) again
 * to hash it, a block's thousand times over.
 */
export function serialKeys(gtin: string, serials: readonly string[]): string[] {
  const prefix = `${gtin}/`;
  const all = prefix + serials.join(prefix);
  const keys: string[] = [];
  let at = 0;
  for (const serial of serials) {
    const end = at + prefix.length + serial.length;
    keys.push(all.slice(at, end));
    at = end;
  }
  return keys;
}

/** Lays the products out as consecutive numbered blocks. */
export function planBlocks(
  products: readonly Omit<PlannedProduct, "firstBlock" | "blocks">[],
  blockSize: number,
): { products: PlannedProduct[]; totalBlocks: number; totalCodes: number } {
  let next = 1;
  let totalCodes = 0;
  const planned = products.map((p) => {
    const blocks = Math.ceil(p.quantity / blockSize);
    const out = { ...p, firstBlock: next, blocks };
    next += blocks;
    totalCodes += p.quantity;
    return out;
  });
  return { products: planned, totalBlocks: next - 1, totalCodes };
}

/** Which product a block belongs to, and the chunk of that product it holds. */
export function locateBlock(order: EmissionOrderDoc, seq: number): { index: number; product: PlannedProduct; chunk: number } {
  const index = order.products.findIndex((p) => seq >= p.firstBlock && seq < p.firstBlock + p.blocks);
  const product = order.products[index];
  if (product === undefined) throw new Error(`block ${seq} is outside order ${order._id}`);
  return { index, product, chunk: seq - product.firstBlock };
}
