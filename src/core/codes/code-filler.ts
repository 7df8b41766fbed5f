import { type BackgroundTasks, type Logger, type Notifier, repeatInTurn } from "../runtime/index.js";
import { pumpBlocks } from "./block-pump.js";
import type { BlockStore } from "./block-store.js";
import type { EncodedBlock } from "./encoded-block.js";
import type { Journal, LeasedDoc, WorkLease } from "../iotp/index.js";
import { inOrderTrace, inSpan, type MeshMetrics } from "../telemetry/index.js";

/** What a forwarding role tells the filler about its own order records. */
export interface FillerTarget {
  /** Opens the code stream of the role below after the given block (encodedCodeStream: blocks stay encoded). */
  open(orderId: string, afterBlock: number, signal: AbortSignal): AsyncIterable<EncodedBlock>;
  /** Highest block this role stored contiguously for the order, and the codes in blocks 1 to it. */
  cursor(orderId: string): Promise<{ blocks: number; codes: number }>;
  /**
   * Records that consecutive `blocks` (already stored) are here, the order's
   * codes through the last of them being `codesThrough`: counters, status.
   */
  advance(blocks: readonly EncodedBlock[], codesThrough: number): Promise<void>;
  /**
   * The role below will send no more codes: mark the order failed and say
   * who asked for it, or undefined if the order was closed meanwhile.
   */
  fail(orderId: string): Promise<{ requestId: string; participantId: string } | undefined>;
  /** Orders still being filled (with their lease), resumed after a restart or a holder's death. */
  filling(): Promise<LeasedDoc[]>;
  /** The traceparent stored with the order: filling joins the order's trace. */
  traceparent?(orderId: string): Promise<string | undefined>;
  /** Who fills which order, when several instances share one database. */
  lease: Pick<
    WorkLease<LeasedDoc>,
    "acquire" | "keep" | "heldFresh" | "holds" | "forget" | "release" | "takeable" | "ms" | "scanMs" | "owner" | "resumeEveryScan"
  >;
}

/** A record its create has just inserted (see CodeFiller.fill): what the filler would otherwise read of it. */
export interface FreshRecord extends Pick<LeasedDoc, "leaseOwner" | "leaseUntil"> {
  traceparent?: string | undefined;
}

export interface CodeFillerDeps {
  blocks: BlockStore;
  notifier: Notifier;
  tasks: BackgroundTasks;
  journal: Journal;
  log: Logger;
  /** The step this filler runs: "10.1" at the Registrar, "14.1" at OMS. */
  step: string;
  /** Codes stored from the role below. */
  metrics?: Pick<MeshMetrics, "codesStored">;
}

/**
 * Fetches an order's codes from the role below asynchronously (steps 10.1
 * and 14.1): the stream is opened at once, the role below sends blocks as
 * they exist, and each block is stored here before the next is taken.
 * One stream per order being filled, all over the one connection to the
 * role below, with no bound here: the bound is the orders still active at
 * the Emission server (participants × MAX_ACTIVE_ORDERS), which config.ts
 * holds MAX_STREAMS_PER_ROLE and MAX_STREAMS_PER_CONNECTION to.
 */
export class CodeFiller {
  constructor(
    private readonly d: CodeFillerDeps,
    private readonly target: FillerTarget,
  ) {}

  private stopScanning: (() => void) | undefined;

  /**
   * Fills the order in the background. `fresh`: the record was created by
   * this very call, leased to this instance (newLease) with nothing stored
   * yet, so the first round reads nothing: not the lease, the traceparent
   * nor the cursor (three reads per order at each hop, on FerretDB three
   * round trips, started as the create's reply travels up).
   */
  fill(orderId: string, fresh?: FreshRecord): void {
    this.d.tasks.start(orderId, (signal) => this.leased(orderId, signal, fresh));
  }

  async resumeAll(): Promise<void> {
    const now = Date.now();
    for (const doc of await this.target.filling()) if (await this.target.lease.takeable(doc, now)) this.fill(doc._id);
  }

  /**
   * Resumes filling now (after a restart) and then every heartbeat, so
   * orders whose filler died with its instance are taken over within seconds.
   */
  startResuming(): void {
    this.stopResuming();
    this.stopScanning = this.target.lease.resumeEveryScan(() => this.resumeAll(), this.d.log);
  }

  stopResuming(): void {
    this.stopScanning?.();
    this.stopScanning = undefined;
  }

  stop(orderId: string): Promise<void> {
    return this.d.tasks.stop(orderId);
  }

  /** The lease of a record this instance creates and fills at once (see fill). */
  newLease(now = Date.now()): Pick<LeasedDoc, "leaseOwner" | "leaseUntil"> {
    return { leaseOwner: this.target.lease.owner, leaseUntil: now + this.target.lease.ms };
  }

  /** Whether this process is filling the order (it stores the order's blocks here). */
  fillsHere(orderId: string): boolean {
    return this.d.tasks.has(orderId);
  }

  /**
   * Fills the order while this instance holds its lease; stops if another
   * instance takes it. A record this instance just created carries a fresh
   * lease of its own (newLease), kept with a read: no write to take it. A
   * record filled (or failed) is left with its lease, which runs out unused:
   * no resume scan takes a record no longer filling, so releasing it was a
   * write for nothing. On FerretDB each of these writes was a read and a
   * findOneAndUpdate (a SQLite commit), three times a read's cost, twice per
   * order at each hop.
   */
  private async leased(orderId: string, signal: AbortSignal, fresh: FreshRecord | undefined): Promise<void> {
    const lease = this.target.lease;
    // A fresh record's lease is as keep() would read it; read and renewed only if the fill started that late.
    if (fresh !== undefined && lease.heldFresh(fresh)) lease.holds(orderId, fresh.leaseUntil, fresh.leaseUntil - lease.ms);
    else if (!(await lease.keep(orderId))) return;
    const lost = new AbortController();
    // Checked every two scans (a read only after a break in this instance's heartbeat), renewed every third
    // of the lease (a write): if this instance was taken for dead while it stalled, it stops within a second
    // of losing the order, not seconds later. One keep at a time: on a slow store they would pile up.
    const stopKeeping = repeatInTurn(
      Math.max(50, Math.min(lease.ms / 3, 2 * lease.scanMs)),
      async () => (await lease.keep(orderId)) || lost.abort(),
      () => undefined, // a store that fails now is asked again at the next tick
    );
    const both = AbortSignal.any([signal, lost.signal]);
    let settled = false;
    try {
      // A span in the order's trace for each time this instance fills it (first run, resume, take-over).
      const traceparent = fresh === undefined ? await this.target.traceparent?.(orderId) : fresh.traceparent;
      settled = await inOrderTrace(traceparent, `step ${this.d.step}: fill`, { orderId, step: this.d.step }, () =>
        this.run(orderId, both, fresh !== undefined),
      );
    } finally {
      stopKeeping();
      // Stopped or lost while still filling: released (noted as given up), so another instance takes it at once.
      if (settled) lease.forget(orderId);
      else await lease.release(orderId).catch(() => undefined);
    }
  }

  /**
   * Blocks that arrived together are stored with one write and recorded with
   * one more, whatever their number; each carries the order's code count
   * through it, kept here from the cursor on, so recording reads nothing.
   */
  private async storeBlocks(orderId: string, blocks: readonly EncodedBlock[], codesBefore: number): Promise<number> {
    let codes = codesBefore;
    const toStore = blocks.map((block) => {
      codes += block.count;
      return { block, codesThrough: codes };
    });
    // One span per run of blocks stored together.
    await inSpan(`step ${this.d.step}: store block`, { orderId, step: this.d.step }, async () => {
      await this.d.blocks.putMany(toStore);
      await this.target.advance(blocks, codes);
    });
    this.d.metrics?.codesStored.inc(codes - codesBefore);
    this.d.notifier.notify(orderId);
    return codes;
  }

  /** Fills the order; true once it is no longer filling (all blocks stored, or marked failed), false when stopped. */
  private async run(orderId: string, signal: AbortSignal, empty: boolean): Promise<boolean> {
    /** The order's codes through the cursor. */
    let codes = 0;
    /** A record just created holds no block: its first cursor is known. A reopened stream reads it. */
    let known = empty;
    try {
      await pumpBlocks({
        orderId,
        signal,
        log: this.d.log,
        open: (afterBlock, s) => this.target.open(orderId, afterBlock, s),
        cursor: async () => {
          const at = known ? { blocks: 0, codes: 0 } : await this.target.cursor(orderId);
          known = false;
          codes = at.codes;
          return at.blocks;
        },
        store: async (block) => {
          codes = await this.storeBlocks(orderId, [block], codes);
        },
        storeMany: async (blocks) => {
          codes = await this.storeBlocks(orderId, blocks, codes);
        },
      });
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      // Marked failed, or closed or cancelled meanwhile (undefined): no longer filling either way.
      const owner = await this.target.fail(orderId);
      if (owner === undefined) return true;
      await this.d.journal.record({
        step: this.d.step,
        orderId,
        requestId: owner.requestId,
        participantId: owner.participantId,
        error: err,
        cause: err,
      });
      this.d.notifier.notify(orderId);
      return true;
    }
  }
}
