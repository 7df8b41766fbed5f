import type { Logger } from "../core/runtime/index.js";

/** When the line acknowledges: after this many new blocks, or this long after the first unacknowledged one. */
export interface AckPolicy {
  everyBlocks: number;
  everyMs: number;
}

export const ACK_DEFAULTS: AckPolicy = { everyBlocks: 16, everyMs: 250 };

/**
 * Acknowledges a code stream cumulatively (AcknowledgeBlocks says "every
 * block through N"), in the background: the stream never waits for an
 * acknowledgement, at most one is in flight, and one sent later covers every
 * block before it. A failed acknowledgement is only logged: the next one, or
 * flush() at the end, covers its blocks, and OMS keeps unacknowledged blocks.
 */
export class BlockAcknowledger {
  private acked = 0;
  private stored = 0;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Once closed (the receive ended), only flush() sends: no timer, no retry of one that was in flight. */
  private closed = false;

  constructor(
    private readonly send: (through: number) => Promise<void>,
    private readonly policy: AckPolicy,
    private readonly log: Logger,
  ) {}

  /** Block `seq` is stored on the line: acknowledge it soon. */
  storedThrough(seq: number): void {
    this.stored = Math.max(this.stored, seq);
    if (this.closed) return;
    if (this.stored - this.acked >= this.policy.everyBlocks) this.kick();
    else this.arm();
  }

  /** Acknowledges everything stored, waiting for it; throws if that last acknowledgement fails. */
  async flush(): Promise<void> {
    this.close();
    while (this.inFlight !== undefined) await this.inFlight;
    if (this.stored <= this.acked) return;
    const through = this.stored;
    await this.send(through);
    this.acked = Math.max(this.acked, through);
  }

  /** Stops for good: nothing more is sent unless flush() is called. */
  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.closed || this.timer !== undefined || this.stored <= this.acked) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.policy.everyMs);
    this.timer.unref();
  }

  private kick(): void {
    this.stopTimer();
    if (this.closed || this.inFlight !== undefined || this.stored <= this.acked) return;
    const through = this.stored;
    let failed = false;
    this.inFlight = this.send(through)
      .then(
        () => {
          this.acked = Math.max(this.acked, through);
        },
        (err: unknown) => {
          failed = true;
          this.log.warn({ err, through }, "acknowledgement failed; the next one covers its blocks");
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        // After a failure the next try waits its time: no tight loop against a role that is down.
        if (!failed && this.stored - this.acked >= this.policy.everyBlocks) this.kick();
        else this.arm();
      });
  }
}
