import type { Collection, Doc, Filter, Update } from "../../store/store.js";
import type { InstanceLiveness } from "./instance-liveness.js";
import { type Logger, repeatInTurn } from "../runtime/index.js";
import type { TakeFences } from "./take-fences.js";

/** A document whose background work (emission, filling) one instance at a time may do. */
export interface LeasedDoc extends Doc {
  leaseOwner: string;
  /** Epoch ms; 0 when nobody holds it. */
  leaseUntil: number;
}

/** What a WorkLease needs of its role. */
export interface LeaseContext {
  liveness: Pick<InstanceLiveness, "id" | "isAlive" | "heartbeatMs"> & Partial<Pick<InstanceLiveness, "crowded" | "unbrokenSince">>;
  /** One winner among instances taking the same lease at once. */
  fences: TakeFences;
  /** How long a lease runs unless renewed. */
  ms: number;
  log?: Logger | undefined;
  /** Told when work is taken from a dead holder (for the lease take-over metric). */
  tookOver?: (() => void) | undefined;
}

/**
 * Background work is leased, so that of several instances on one database
 * exactly one does it, and another takes it over when that one dies: the
 * holder renews its lease; anyone may take a lease that ran out, or one whose
 * holder stopped beating (InstanceLiveness), which is seen within seconds
 * however long the lease. A holder that beats is never taken over while it
 * renews. All steps are single-document conditional updates; a take from
 * another holder (free, run out or dead) goes through a fence, so that of
 * several instances taking it at once exactly one gets it on every store.
 */
export class WorkLease<T extends LeasedDoc> {
  private readonly liveness: LeaseContext["liveness"];
  readonly ms: number;
  private lastScan: number | undefined;
  /**
   * Leases this instance wrote or read as its own: until when, and since when it knows it holds them (see
   * keep). A lease it gave up is noted as given up (until 0) as of then, so that a renewal sent before and
   * answered after does not note it held again.
   */
  private readonly held = new Map<string, { until: number; since: number }>();

  constructor(
    private readonly docs: Collection<T>,
    private readonly context: LeaseContext,
  ) {
    this.liveness = context.liveness;
    this.ms = context.ms;
  }

  get owner(): string {
    return this.liveness.id;
  }

  /** How often to look for work whose holder died: twice a heartbeat, so a death is acted on soon after it shows. */
  get scanMs(): number {
    return Math.min(this.liveness.heartbeatMs / 2, this.ms / 3);
  }

  /**
   * Whether a resume scan, tried every scanMs, is due: each time while other
   * instances may hold or drop work (InstanceLiveness.crowded), else once a
   * third of a lease (renewing the leases of waiting work). On FerretDB a
   * scan reads every record of the collection, four times a second per role.
   */
  async scanDue(now = Date.now()): Promise<boolean> {
    const seldom = this.lastScan !== undefined && now >= this.lastScan && now - this.lastScan < this.ms / 3;
    if (seldom && this.liveness.crowded !== undefined && !(await this.liveness.crowded(now))) return false;
    this.lastScan = now;
    return true;
  }

  /**
   * Runs `resume` now and then at every scan that is due (scanDue): seldom
   * while no other instance may hold or drop work, as each scan reads every
   * record. One scan at a time: on a slow store, scans started on every tick
   * would pile up. Returns the stop function.
   */
  resumeEveryScan(resume: () => Promise<void>, log: Logger): () => void {
    return repeatInTurn(
      Math.max(100, this.scanMs),
      async () => {
        if (await this.scanDue()) await resume();
      },
      (err) => log.warn({ err }, "resume scan failed"),
      { now: true, unref: true },
    );
  }

  /**
   * Takes or renews the lease; false if another live instance holds it.
   * `fromDead` false leaves a dead holder's lease until it runs out (for a
   * busy instance that would only queue the work behind its own).
   */
  async acquire(id: string, now = Date.now(), fromDead = true): Promise<boolean> {
    const set = { $set: { leaseOwner: this.owner, leaseUntil: now + this.ms } } as Update<T>;
    if ((await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, set)) !== undefined) {
      this.holds(id, now + this.ms, now);
      return true;
    }
    const held = await this.docs.findOne({ _id: id } as Filter<T>);
    if (held === undefined || held.leaseOwner === this.owner) return false;
    const runOut = held.leaseUntil < now;
    if (!runOut && (!fromDead || (await this.liveness.isAlive(held.leaseOwner, now)))) return false;
    // Take it from exactly that holder, as the one taker of that state (if another instance was quicker, it has it).
    const state = `${id}|${held.leaseOwner}|${held.leaseUntil}`;
    const taken = await this.context.fences.run(state, () =>
      this.docs.updateOne({ _id: id, leaseOwner: held.leaseOwner, leaseUntil: held.leaseUntil } as Filter<T>, set),
    );
    if (taken === undefined) return false;
    this.holds(id, now + this.ms, now);
    if (runOut) return true;
    // Logged so a take-over can be put on a timeline (how long after the kill, by whom).
    this.context.log?.info({ id, from: held.leaseOwner, by: this.owner }, "work of a dead instance taken over");
    this.context.tookOver?.();
    return true;
  }

  /**
   * Keeps a lease this instance holds: false once another live instance took
   * it over, else true, renewed when a third of it is gone (as acquire() would
   * take it otherwise). Nobody takes a lease from a holder that renews on time
   * unless it counted that holder dead, which it cannot have done while the
   * holder's heartbeat stayed unbroken (InstanceLiveness.unbrokenSince): a
   * lease this instance knows it holds since then is kept without a read. Else
   * checking that the work is still ours costs a read, not a write. On
   * FerretDB those reads, every half second per filling order at OMS and the
   * Registrar, were a quarter of their reads under the load of 16 lines.
   */
  async keep(id: string, now = Date.now()): Promise<boolean> {
    const known = this.held.get(id);
    if (known !== undefined && this.fresh(known.until, now) && this.liveness.unbrokenSince?.(known.since, now) === true) return true;
    const doc = await this.docs.findOne({ _id: id } as Filter<T>);
    if (doc === undefined) {
      this.held.delete(id);
      return false;
    }
    if (this.heldFresh(doc, now)) {
      this.holds(id, doc.leaseUntil, now);
      return true;
    }
    return this.acquire(id, now);
  }

  /** Notes a lease this instance holds as of `since`, written by its own create (CodeFiller.newLease) or read. */
  holds(id: string, until: number, since: number): void {
    const known = this.held.get(id);
    if (known !== undefined && known.until === 0 && known.since >= since) return; // given up after that
    if (this.held.size >= HELD_NOTES) for (const [k, v] of this.held) if (v.until < since) this.held.delete(k);
    if (this.held.size < HELD_NOTES) this.held.set(id, { until, since });
  }

  /** Notes a lease given up now: kept with a read from then on, whatever renewal answers later. */
  private givenUp(id: string): void {
    if (this.held.has(id) || this.held.size < HELD_NOTES) this.held.set(id, { until: 0, since: Date.now() });
  }

  /** Forgets the note of a lease this instance no longer works under (its work finished). */
  forget(id: string): void {
    this.held.delete(id);
  }

  private fresh(until: number, now: number): boolean {
    return until - now > (this.ms * 2) / 3;
  }

  /** Whether this instance holds the lease as read, with more than two thirds of it left: keep() neither writes nor renews it then. */
  heldFresh(doc: Pick<LeasedDoc, "leaseOwner" | "leaseUntil">, now = Date.now()): boolean {
    return doc.leaseOwner === this.owner && this.fresh(doc.leaseUntil, now);
  }

  /**
   * Whether acquire() could take this document's lease now, judged from the
   * document as read (no write): lets a resume scan skip work that a live
   * instance holds, at the cost of one read per scan, not several writes per order.
   */
  async takeable(doc: LeasedDoc, now = Date.now()): Promise<boolean> {
    return doc.leaseOwner === this.owner || doc.leaseUntil < now || !(await this.liveness.isAlive(doc.leaseOwner, now));
  }

  /**
   * Gives the work up now, marking when (leaseUntil = now, not 0): an instance
   * at its share of the work leaves it to one below its share for a lease's time.
   */
  async handOver(id: string, now = Date.now()): Promise<void> {
    this.givenUp(id);
    await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, { $set: { leaseUntil: now } } as Update<T>);
  }

  async release(id: string): Promise<void> {
    this.givenUp(id);
    await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, { $set: { leaseUntil: 0 } } as Update<T>);
  }
}

/** Leases noted at most (WorkLease.holds): past it, run-out ones are dropped, and new ones are read when kept. */
const HELD_NOTES = 10_000;
