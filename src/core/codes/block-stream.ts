import type { ConnectError } from "@connectrpc/connect";
import { abortedCallError } from "../rpc/index.js";
import type { BlockStore } from "./block-store.js";
import type { EncodedBlock } from "./encoded-block.js";
import type { Notifier } from "../runtime/index.js";

/** Where an order's blocks stand at this hop, read afresh on every round. */
export interface BlockProgress {
  /** Highest block seq stored contiguously from 1. */
  stored: number;
  /** Blocks the order will have in all. */
  total: number;
  /** Set when no more blocks will come (closed, cancelled, rejected). */
  ended?: ConnectError;
}

export interface BlockSource {
  blocks: BlockStore;
  notifier: Notifier;
  progress(orderId: string): Promise<BlockProgress>;
  /** How long a stream waits for a wake-up before it re-reads its store. */
  recheckMs: number;
  /**
   * True while this process itself stores the order's blocks (emits or fills
   * it): every new block then wakes the stream, and a recheck only looks for
   * what another instance changes (a close or cancel sent there), so it comes
   * LOCAL_RECHECKS times less often. A recheck is a read of the order's record.
   */
  storedHere?: (orderId: string) => boolean;
}

/** How many times longer a stream waits between rechecks while its blocks are stored in this process. */
export const LOCAL_RECHECKS = 4;

const BATCH = 8;

/**
 * Server side of every StreamCodes: sends the stored blocks after
 * `afterBlock`, then waits for new ones and sends them as they are stored,
 * until the last block is sent (the stream ends OK) or the order is closed or
 * cancelled (the stream ends with that error at once). A deadline or a cancel
 * ends it with DEADLINE_EXCEEDED or CANCELLED. No hop holds more than a few
 * blocks, and sends them as they were encoded where they were made.
 */
export async function* streamBlocks(
  src: BlockSource,
  orderId: string,
  afterBlock: number,
  signal: AbortSignal,
): AsyncGenerator<EncodedBlock> {
  let cursor = afterBlock;
  // Waiting for a wake-up starts before the progress is read, so that a block stored while
  // this stream sends is not missed: the stream reads its progress once per new block, not twice.
  const ended = new AbortController();
  const waitSignal = AbortSignal.any([signal, ended.signal]);
  let wake: Promise<void> | undefined;
  try {
    for (;;) {
      if (signal.aborted) throw abortedCallError(signal);
      wake ??= src.notifier.wait(orderId, waitSignal, recheckMs(src, orderId)).then(() => {
        wake = undefined;
      });
      const p = await src.progress(orderId);
      // A closed or cancelled order sends nothing more, not even blocks it holds.
      if (p.ended !== undefined) throw p.ended;
      if (cursor < p.stored) {
        const batch = await src.blocks.range(orderId, cursor, p.stored, BATCH);
        for (const block of batch) {
          yield block;
          cursor = block.seq;
        }
        // More stored than one batch: the next batch after a fresh look at the progress.
        if (batch.length === BATCH && cursor < p.stored) continue;
      }
      if (p.total > 0 && cursor >= p.total) return;
      await wake;
    }
  } finally {
    // The pending wait is dropped with the stream, not left until its timer.
    ended.abort();
  }
}

function recheckMs(src: BlockSource, orderId: string): number {
  return src.storedHere?.(orderId) === true ? src.recheckMs * LOCAL_RECHECKS : src.recheckMs;
}
