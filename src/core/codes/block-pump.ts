import { Code, ConnectError } from "@connectrpc/connect";
import type { CodeBlock } from "../../gen/emission/common/v1/order_pb.js";
import { type Logger, sleep } from "../runtime/index.js";

/** What the pump needs of a block, decoded or encoded. */
export interface NumberedBlock {
  seq: number;
  last: boolean;
}

export interface BlockPumpOptions<B extends NumberedBlock> {
  orderId: string;
  /** Opens the upstream StreamCodes after the given block. */
  open(afterBlock: number, signal: AbortSignal): AsyncIterable<B>;
  /** Highest block stored contiguously here: where a resumed stream starts. */
  cursor(): Promise<number>;
  /** Stores one block (idempotently) and advances the cursor. */
  store(block: B): Promise<void>;
  /**
   * Stores several consecutive blocks (idempotently) and advances the cursor
   * past them, with fewer writes than one block at a time: when given, the
   * blocks that arrived while the previous ones were stored go together.
   */
  storeMany?(blocks: readonly B[]): Promise<void>;
  /**
   * Whether the stream is done at this cursor (all blocks stored); it may
   * also finish what the last run left undone, such as a lost acknowledgement.
   */
  complete?(cursor: number): Promise<boolean>;
  signal: AbortSignal;
  log: Logger;
  /** Backoff between resumes (default RESUME_BACKOFF). */
  backoff?: { initialMs: number; maxMs: number };
}

/**
 * A cut code stream resumes fast and keeps trying about once a second: unlike a
 * unary retransmission it loads nothing new on the role below, and a stream to a
 * restarted or partner instance should move again within a second of it being back.
 */
export const RESUME_BACKOFF = { initialMs: 100, maxMs: 1_000 };

/** Codes after which retrying the stream cannot help. */
const PERMANENT = new Set<Code>([
  Code.NotFound,
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.InvalidArgument,
  Code.Unimplemented,
]);

/** At most this many blocks are stored together by storeMany. */
export const MAX_STORED_TOGETHER = 16;

export function isPermanent(err: ConnectError): boolean {
  return PERMANENT.has(err.code);
}

/**
 * Client side of every code stream: stores each block before taking the next,
 * and when the stream is cut resumes after the last stored block, with
 * exponential backoff and jitter. Resolves once the last block is stored;
 * rejects on a permanent error or when aborted.
 */
export async function pumpBlocks<B extends NumberedBlock>(o: BlockPumpOptions<B>): Promise<void> {
  const { initialMs, maxMs } = o.backoff ?? RESUME_BACKOFF;
  let delay = initialMs;
  /** When the stream was last cut, until a block arrives again: logged, to put a stall on a timeline. */
  let cutAt: number | undefined;
  for (;;) {
    let cursor = await o.cursor();
    // A stream left after its last block (or cut) is cancelled, not left open: connect's
    // client iterator has no return(), so leaving the loop alone would not end the call.
    const attempt = new AbortController();
    try {
      if ((await o.complete?.(cursor)) === true) return;
      for await (const blocks of batches(
        o.open(cursor, AbortSignal.any([o.signal, attempt.signal])),
        o.storeMany === undefined ? 1 : MAX_STORED_TOGETHER,
      )) {
        for (const [i, block] of blocks.entries()) {
          if (block.seq !== cursor + 1 + i) {
            throw new ConnectError(`block ${block.seq} arrived after block ${cursor + i}`, Code.DataLoss);
          }
        }
        const last = blocks.at(-1);
        if (last === undefined) continue;
        if (o.storeMany === undefined || blocks.length === 1) for (const block of blocks) await o.store(block);
        else await o.storeMany(blocks);
        cursor = last.seq;
        delay = initialMs;
        if (cutAt !== undefined) o.log.info({ orderId: o.orderId, cursor, stalledMs: Date.now() - cutAt }, "code stream moving again");
        cutAt = undefined;
        if (last.last) return;
      }
      throw new ConnectError(`code stream ended after block ${cursor} without the last block`, Code.Unavailable);
    } catch (err) {
      const e = ConnectError.from(err);
      if (o.signal.aborted) throw new ConnectError("code stream stopped", Code.Canceled, undefined, undefined, e);
      if (isPermanent(e)) throw e;
      cutAt ??= Date.now();
      o.log.info({ orderId: o.orderId, cursor, code: Code[e.code], retryInMs: delay }, `code stream cut, resuming: ${e.rawMessage}`);
      await sleep(delay * (0.5 + Math.random()), o.signal);
      delay = Math.min(delay * 2, maxMs);
    } finally {
      attempt.abort();
    }
  }
}

/**
 * The stream's blocks in runs: each run is what arrived while the one before
 * was being stored (at least one block, at most `max`, ending at a last
 * block). The next block is awaited while a run is stored, so a hop that
 * stores slower than blocks arrive writes several with one round trip.
 */
export async function* batches<B extends NumberedBlock>(source: AsyncIterable<B>, max: number): AsyncGenerator<B[]> {
  const it = source[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<B>> | undefined = it.next();
  try {
    while (next !== undefined) {
      const first: IteratorResult<B> = await next;
      next = undefined;
      if (first.done === true) return;
      const run = [first.value];
      if (!first.value.last) next = it.next();
      // Takes what already arrived, never waiting for a block that has not.
      while (next !== undefined && run.length < max && run.at(-1)?.last !== true) {
        // A stream that fails here ends the run; the failure is thrown after the run is stored.
        const ready: IteratorResult<B> | typeof WAITING | typeof FAILED = await Promise.race([
          next.catch((): typeof FAILED => FAILED),
          nextTurn(),
        ]);
        if (ready === WAITING || ready === FAILED) break;
        next = undefined;
        if (ready.done === true) break;
        run.push(ready.value);
        if (!ready.value.last) next = it.next();
      }
      // A block awaited while the run is stored may fail with the stream: not an unhandled rejection.
      void next?.catch(() => undefined);
      yield run;
    }
  } finally {
    // Not awaited: with a block still awaited, an async generator's return() waits for it (the caller aborts the stream).
    void it.return?.().catch(() => undefined);
  }
}

const WAITING = Symbol("waiting");
const FAILED = Symbol("failed");

/** Resolves after the I/O already received is handled. */
function nextTurn(): Promise<typeof WAITING> {
  return new Promise((resolve) => setImmediate(() => resolve(WAITING)));
}

/** The blocks of a StreamCodes response stream (every role's has one `block` field). */
export async function* blocksOf(responses: AsyncIterable<{ block?: CodeBlock | undefined }>): AsyncIterable<CodeBlock> {
  for await (const r of responses) {
    if (r.block === undefined) throw new ConnectError("code stream sent a message without a block", Code.DataLoss);
    yield r.block;
  }
}
