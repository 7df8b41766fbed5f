import { sleep } from "../core/runtime/index.js";

/**
 * Paces emission at `rate` codes per second: each block waits out its share
 * of time after the blocks before it. A wait shorter than a timer tick is
 * owed, not slept: a timer fires after 1 ms at the least, so sleeping the
 * 0.1 ms a 1 000-code block is due at 10 M codes/s held every block ten times
 * as long as its share, and at any rate whose blocks take under a millisecond
 * emission ran slower than configured. What is owed is slept once it adds up
 * to a tick, so the rate holds on average and never runs more than a tick ahead.
 */
export class Pacer {
  /** When the last paced block's time slot ends. */
  private nextSlot = 0;

  constructor(
    private readonly rate: number,
    private readonly signal?: AbortSignal,
  ) {}

  async pace(codes: number): Promise<void> {
    const now = Date.now();
    const end = Math.max(this.nextSlot, now) + (codes / this.rate) * 1000;
    this.nextSlot = end;
    if (end - now >= TICK_MS) await sleep(end - now, this.signal);
  }
}

/** The shortest wait a timer gives. */
const TICK_MS = 1;
