import { type EncodedBlock, encodeBlock } from "../core/codes/index.js";
import { WorkerPool } from "../core/runtime/index.js";
import { GS, type TailLength } from "../domain/code-format.js";
import { createKeyRing, type SigningKey, signCodes } from "../domain/crypto-tail.js";
import { writeSignedBlock } from "./signed-block-writer.js";

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
  // 44-character tails (most product groups) are signed as they are written; 88-character ones as strings, then encoded.
  if (b.tailLength === 44) return writeSignedBlock(b);
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
 * when running from source, on the main thread. Small blocks are made on
 * the main thread all the same (see bySize).
 */
export function blockMaker(workers: number): BlockMaker {
  if (workers < 1 || !import.meta.url.endsWith(".js")) return inThreadBlockMaker;
  const pool = new WorkerPool<PostedBlock, EncodedBlock>(WORKER_SCRIPT, workers);
  return bySize(inThreadBlockMaker, { make: (block) => pool.run(posted(block)), close: () => pool.close() });
}

/**
 * Blocks of fewer codes than this are made where they are asked for: a trip
 * to a worker and back costs more than signing them there (a 10-code block:
 * about 110 µs of CPU through a worker, 26 µs on the calling thread; even at
 * 64 codes the main thread's share of posting is about what signing costs).
 * A small order's only block, and every order's last, are often this small.
 */
export const IN_THREAD_BELOW = 64;

/** Blocks of fewer than IN_THREAD_BELOW codes made by `small`, the others by `large`. */
export function bySize(small: BlockMaker, large: BlockMaker): BlockMaker {
  return {
    make: (block) => (block.serials.length < IN_THREAD_BELOW ? small : large).make(block),
    close: async () => {
      await Promise.all([small.close(), large.close()]);
    },
  };
}

/**
 * A block as it is posted to a worker: its serials as one string, which is
 * copied across at once where an array is cloned string by string (a sixth
 * of the main thread's time went there). GS is in no serial (AI-82).
 */
export type PostedBlock = Omit<BlockToMake, "serials"> & { serials: string; count: number };

/** The block as posted to a worker. */
export function posted(b: BlockToMake): PostedBlock {
  return { ...b, serials: b.serials.join(GS), count: b.serials.length };
}

/** The block a worker was posted. */
export function unposted(p: PostedBlock): BlockToMake {
  const serials = p.count === 0 ? [] : p.serials.split(GS);
  if (serials.length !== p.count) throw new RangeError(`${p.count} serials posted, ${serials.length} arrived: a serial holds GS`);
  return { ...p, serials };
}
