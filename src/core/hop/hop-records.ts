import { OrderNotFoundError, OrderStateError } from "../../domain/domain-errors.js";
import { insertOrLoad } from "../../store/insert-or-load.js";
import type { Collection, Filter, Update } from "../../store/store.js";
import { type BlockStore, type EncodedBlock, expireFinishedOrders } from "../codes/index.js";
import { type LeaseContext, WorkLease } from "../iotp/index.js";
import type { Logger } from "../runtime/index.js";
import type { EndKind, HopRecordDoc } from "./hop-record.js";

/** What a role tells the hop about its own records: names, statuses, what a block and an end change. */
export interface HopRecordsSpec<T extends HopRecordDoc> {
  /** What errors call a record: "it" at OMS, "the pool" at the Registrar. */
  called: string;
  statusName(status: T["status"]): string;
  /** Statuses while codes still come from below (resumed after a restart). */
  filling: readonly T["status"][];
  /** Statuses in which the role above may still work with the record, the filling ones included. */
  open: readonly T["status"][];
  /** The cursor: fields counting the blocks stored contiguously from below and the codes in them. */
  cursor: { blocks: keyof T & string; codes: keyof T & string };
  /** What else a stored block changes (the role's status moves). */
  onBlock(block: EncodedBlock): Partial<T>;
  /** The role below will send no more codes; the record can still be closed or cancelled. */
  failed: Partial<T> & { status: T["status"] };
  /** What a close and a cancel set here. */
  ended: Record<EndKind, Partial<T> & { status: T["status"] }>;
  /** The last block the line took: on a cancel, later blocks are void. */
  deliveredThrough(record: T): number;
}

/**
 * The records of a forwarding hop (OMS's orders, the Registrar's pools). The
 * one place that speaks the store's query language for them: every change is
 * a single-document update conditional on the status (the status guard), so
 * concurrent calls and instances cannot move a record backwards.
 */
export class HopRecords<T extends HopRecordDoc> {
  constructor(
    protected readonly docs: Collection<T>,
    readonly spec: HopRecordsSpec<T>,
  ) {}

  async get(id: string): Promise<T | undefined> {
    return id === "" ? undefined : this.docs.findOne(this.where({ _id: id }));
  }

  /** Loads a record; scoped to a participant (OMS), another participant's record does not exist for it. */
  async load(id: string, participantId = ""): Promise<T> {
    const record = await this.get(id);
    if (record === undefined || (participantId !== "" && record.participantId !== participantId)) throw new OrderNotFoundError(id);
    return record;
  }

  /** Inserts a new record, or returns the one a retransmitted create stored first. */
  insertOrLoad(record: T): Promise<T> {
    return insertOrLoad(this.docs, record);
  }

  isOpen(record: T): boolean {
    return this.spec.open.includes(record.status);
  }

  /** Highest block stored contiguously from below. */
  async cursorOf(id: string): Promise<number> {
    return (await this.progressOf(id)).blocks;
  }

  /** Highest block stored contiguously from below, and the codes in blocks 1 to it. */
  async progressOf(id: string): Promise<{ blocks: number; codes: number }> {
    const record = await this.load(id);
    return { blocks: this.storedBlocks(record), codes: Number(record[this.spec.cursor.codes]) };
  }

  /** Records that `block` (already stored) is here, reading the record for its code count. */
  async advance(block: EncodedBlock): Promise<void> {
    const record = await this.get(block.orderId);
    if (record === undefined || this.storedBlocks(record) !== block.seq - 1) return;
    await this.advanceThrough([block], Number(record[this.spec.cursor.codes]) + block.count);
  }

  /**
   * Records that consecutive `blocks` (already stored) are here, the order's
   * codes through the last being `codesThrough`: one write, no read. Absolute
   * values, not $inc, conditional on the block before the first: the same
   * step applied twice changes nothing.
   */
  async advanceThrough(blocks: readonly EncodedBlock[], codesThrough: number): Promise<void> {
    const first = blocks[0];
    const last = blocks.at(-1);
    if (first === undefined || last === undefined) return;
    const { blocks: storedBlocks, codes } = this.spec.cursor;
    await this.docs.updateOne(
      this.where({ _id: first.orderId, [storedBlocks]: first.seq - 1, status: { $in: this.spec.filling } }),
      this.set({
        [storedBlocks]: last.seq,
        [codes]: codesThrough,
        ...this.spec.onBlock(last),
        updatedAt: Date.now(),
      }),
    );
  }

  /** Marks a record still filling as failed; undefined if it was closed or cancelled meanwhile. */
  fail(id: string): Promise<T | undefined> {
    return this.docs.updateOne(
      this.where({ _id: id, status: { $in: this.spec.filling } }),
      this.set({ ...this.spec.failed, updatedAt: Date.now() }),
    );
  }

  /** The records still filling (their lease fields tell a resume scan whether it may take them). */
  filling(): Promise<T[]> {
    return this.docs.find(this.where({ status: { $in: this.spec.filling } }));
  }

  /**
   * Closes or cancels the record with the end left pending for the role below.
   * An open or failed record may end; ending it the same way again is harmless;
   * any other end is refused.
   */
  async end(id: string, kind: EndKind, pendingRequestId: string, extra: Partial<T> = {}): Promise<T> {
    const ended = this.spec.ended[kind];
    const updated = await this.docs.updateOne(
      this.where({ _id: id, status: { $in: [...this.spec.open, this.spec.failed.status] } }),
      this.set({ ...ended, pending: kind, pendingRequestId, updatedAt: Date.now(), ...extra }),
    );
    const now = updated ?? (await this.get(id));
    if (now === undefined) throw new OrderStateError(id, "gone", "it no longer exists");
    if (now.status !== ended.status) {
      const verb = kind === "close" ? "closed" : "cancelled";
      throw new OrderStateError(id, this.spec.statusName(now.status), `${this.spec.called} can no longer be ${verb}`);
    }
    return now;
  }

  /** Records whose close or cancel the role below has not confirmed yet. */
  withPendingEnd(): Promise<T[]> {
    return this.docs.find(this.where({ pending: { $in: ["close", "cancel"] } }));
  }

  /** The role below has the end (or refused it for good): nothing is pending any more. */
  async clearPending(id: string, kind: EndKind | undefined): Promise<void> {
    const unset = { $unset: { pending: true, pendingRequestId: true } } as Update<T>;
    await this.docs.updateOne(this.where({ _id: id, pending: kind }), unset);
  }

  /** Who fills which record, when several instances share one database; `tookOver` is told of each take-over. */
  lease(context: LeaseContext): WorkLease<T> {
    return new WorkLease(this.docs, context);
  }

  /** How many records have the status (for the orders-by-status metric). */
  countWithStatus(status: T["status"]): Promise<number> {
    return this.docs.count(this.where({ status }));
  }

  /** Drops the codes of records finished (in one of `finished`) longer than the retention ago. */
  expireFinished(finished: readonly T["status"][], blocks: BlockStore, o: { retentionMs: number; log: Logger }): () => void {
    return expireFinishedOrders(this.docs, finished, blocks, o);
  }

  /** Highest block of the record stored contiguously from below. */
  storedBlocks(record: T): number {
    return Number(record[this.spec.cursor.blocks]);
  }

  /** Field names come from the spec, so the filter is checked against the record type by hand here, once. */
  protected where(filter: Record<string, unknown>): Filter<T> {
    return filter as Filter<T>;
  }

  protected set(fields: Record<string, unknown>): Update<T> {
    return { $set: fields } as Update<T>;
  }
}
