import { type EncodedBlock, encodeBlock } from "../core/codes/index.js";
import { WorkerPool } from "../core/runtime/index.js";
import type { TailLength } from "../domain/code-format.js";
import { createKeyRing, type SigningKey, signCodes } from "../domain/crypto-tail.js";

/** One block to sign and encode: its serials, taken already, and the key active when it is made. */
export interface BlockToMake {
  orderId: string;
  seq: number;
  blockId: string;
  gtin: string;
  serials: string[];
  tailLength: TailLength;
  last: boolean;
  key: SigningKey;
}

/** Signs the block's codes and encodes it: the CPU-heavy part of making a block, run wherever the maker runs it. */
export function makeBlock(b: BlockToMake): EncodedBlock {
  const codes = signCodes(createKeyRing([b.key]), b.gtin, b.serials, b.tailLength);
  return encodeBlock({ orderId: b.orderId, seq: b.seq, blockId: b.blockId, gtin: b.gtin, codes, last: b.last });
}

/** Where blocks are signed and encoded. */
export interface BlockMaker {
  make(block: BlockToMake): Promise<EncodedBlock>;
  close(): Promise<void>;
}

/** On the calling thread (tests; a pool of 0 workers). */
export const inThreadBlockMaker: BlockMaker = {
  make: async (block) => makeBlock(block),
  close: async () => undefined,
};

/** The compiled worker script; absent when this module runs from source (tests), which then make blocks in thread. */
const WORKER_SCRIPT = new URL("./block-maker-worker.js", import.meta.url);

/**
 * Blocks signed and encoded on `workers` worker threads beside the main one,
 * which meanwhile takes serials, stores blocks and streams them: with 0, or
 * when running from source, on the main thread.
 */
export function blockMaker(workers: number): BlockMaker {
  if (workers < 1 || !import.meta.url.endsWith(".js")) return inThreadBlockMaker;
  const pool = new WorkerPool<BlockToMake, EncodedBlock>(WORKER_SCRIPT, workers);
  return { make: (block) => pool.run(block), close: () => pool.close() };
}
