import { ConnectError } from "@connectrpc/connect";
import { type BackgroundTasks, type Logger, sleep } from "../runtime/index.js";
import { TRANSIENT_CODES } from "../rpc/index.js";

export interface OutboxMessage {
  /** Unique per order and message kind, e.g. "cancel:<orderId>". */
  key: string;
  /** For logs and errors, e.g. "CancelPool". */
  what: string;
  /**
   * The call below, through a retransmitting transport (the same request id
   * on every attempt); it stops retransmitting when `until` aborts.
   */
  send(until?: AbortSignal): Promise<unknown>;
  /** The role below has it: clear the pending mark. */
  delivered(): Promise<void>;
  /** The role below refused it for good: record why. */
  refused(err: ConnectError): Promise<void>;
}

/**
 * Close and cancel travel down the chain even when the role below is away:
 * the caller marks the order as having a pending message, this sends it (the
 * transport retransmits), and if the role below stays unreachable keeps sending in
 * the background (and again after a restart, from the pending mark).
 */
export class DownstreamOutbox {
  constructor(
    private readonly tasks: BackgroundTasks,
    private readonly log: Logger,
    private readonly retryEveryMs = 5_000,
  ) {}

  private retrying = 0;

  /** Messages being retried in the background (a metric). */
  get depth(): number {
    return this.retrying;
  }

  /** True when delivered now; false when it is left to the background. */
  async deliver(m: OutboxMessage): Promise<boolean> {
    try {
      await m.send();
    } catch (err) {
      const e = ConnectError.from(err);
      if (!TRANSIENT_CODES.has(e.code)) {
        await m.refused(e);
        return true;
      }
      this.log.warn({ key: m.key, code: e.code }, `${m.what} not delivered yet; retrying in the background: ${e.rawMessage}`);
      this.tasks.start(`outbox:${m.key}`, async (signal) => {
        this.retrying += 1;
        try {
          await this.keepSending(m, signal);
        } finally {
          this.retrying -= 1;
        }
      });
      return false;
    }
    await m.delivered();
    return true;
  }

  private async keepSending(m: OutboxMessage, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.retryEveryMs, signal);
      if (signal.aborted) return;
      try {
        await m.send(signal);
        await m.delivered();
        return;
      } catch (err) {
        const e = ConnectError.from(err);
        if (!TRANSIENT_CODES.has(e.code)) {
          await m.refused(e);
          return;
        }
      }
    }
  }
}
