/** Serials of one order's next block, being taken or taken. */
interface Ahead {
  seq: number;
  serials: Promise<string[]>;
}

/**
 * Step 6.1: serials of an order's next block, taken while its current block
 * is signed and stored, so that one order alone keeps the main thread (the
 * registry) and the block maker busy at once instead of in turn.
 *
 * Taking serials ahead loses and reuses none, across crashes, retries and
 * take-overs: a block's serials are fixed before any is taken (derived from
 * the order's seed, or in its chunk document) and taken under the block's own
 * order, product and chunk (block-serials.ts). Whoever makes that block later,
 * this instance or another after a crash or take-over, fixes the same serials
 * and finds those taken as its own (a try after a partial one, as after any
 * crash); so the registry never holds a serial but the block's. An order
 * closed or cancelled before the block is stored leaves its serials taken and
 * never emitted, as a block made but not yet stored always did (and a
 * cancel's voided blocks do): a serial is never emitted twice.
 */
export class SerialsAhead {
  private readonly taking = new Map<string, Ahead>();
  /** Every taking not ended yet, dropped ones included: stop waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();

  /** Starts taking block `seq`'s serials of the order with `take`; a failure is met again when the block is made. */
  start(orderId: string, seq: number, take: () => Promise<string[]>): void {
    const serials = take();
    const ended = serials.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(ended);
    void ended.then(() => this.inFlight.delete(ended));
    this.taking.set(orderId, { seq, serials });
  }

  /** Block `seq`'s serials: those taken ahead when they were and it went well, else taken now with `take`. */
  async take(orderId: string, seq: number, take: () => Promise<string[]>): Promise<string[]> {
    const ahead = this.taking.get(orderId);
    this.taking.delete(orderId);
    if (ahead?.seq === seq) {
      try {
        return await ahead.serials;
      } catch {
        // Taken again, from where the failed try left the registry.
      }
    }
    return take();
  }

  /** Forgets the order's serials taken ahead (they stay taken, for whoever makes that block). */
  drop(orderId: string): void {
    this.taking.delete(orderId);
  }

  /** Once every taking in flight has ended, however. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
