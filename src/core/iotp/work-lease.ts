import type { Collection, Doc, Filter, Update } from "../../store/store.js";
import type { InstanceLiveness } from "./instance-liveness.js";
import type { Logger } from "../runtime/index.js";

/** A document whose background work (emission, filling) one instance at a time may do. */
export interface LeasedDoc extends Doc {
  leaseOwner: string;
  /** Epoch ms; 0 when nobody holds it. */
  leaseUntil: number;
}

/**
 * Background work is leased, so that of several instances on one database
 * exactly one does it, and another takes it over when that one dies: the
 * holder renews its lease; anyone may take a lease that ran out, or one whose
 * holder stopped beating (InstanceLiveness), which is seen within seconds
 * however long the lease. A holder that beats is never taken over while it
 * renews. All steps are single-document conditional updates.
 */
export class WorkLease<T extends LeasedDoc> {
  constructor(
    private readonly docs: Collection<T>,
    private readonly liveness: Pick<InstanceLiveness, "id" | "isAlive" | "heartbeatMs">,
    readonly ms: number,
    private readonly log?: Logger,
    /** Told when work is taken from a dead holder (for the lease take-over metric). */
    private readonly tookOver: () => void = () => undefined,
  ) {}

  get owner(): string {
    return this.liveness.id;
  }

  /** How often to look for work whose holder died: twice a heartbeat, so a death is acted on soon after it shows. */
  get scanMs(): number {
    return Math.min(this.liveness.heartbeatMs / 2, this.ms / 3);
  }

  /**
   * Takes or renews the lease; false if another live instance holds it.
   * `fromDead` false leaves a dead holder's lease until it runs out (for a
   * busy instance that would only queue the work behind its own).
   */
  async acquire(id: string, now = Date.now(), fromDead = true): Promise<boolean> {
    const set = { $set: { leaseOwner: this.owner, leaseUntil: now + this.ms } } as Update<T>;
    if ((await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, set)) !== undefined) return true;
    if ((await this.docs.updateOne({ _id: id, leaseUntil: { $lt: now } } as Filter<T>, set)) !== undefined) return true;
    if (!fromDead) return false;
    const held = await this.docs.findOne({ _id: id } as Filter<T>);
    if (held === undefined || held.leaseOwner === this.owner || (await this.liveness.isAlive(held.leaseOwner, now))) return false;
    // Its holder is dead: take it from exactly that holder (if another instance was quicker, it has it).
    const taken = await this.docs.updateOne({ _id: id, leaseOwner: held.leaseOwner, leaseUntil: held.leaseUntil } as Filter<T>, set);
    // Logged so a take-over can be put on a timeline (how long after the kill, by whom).
    if (taken !== undefined) this.log?.info({ id, from: held.leaseOwner, by: this.owner }, "work of a dead instance taken over");
    if (taken !== undefined) this.tookOver();
    return taken !== undefined;
  }

  /**
   * Keeps a lease this instance holds: false once another live instance took
   * it over, else true, renewed when a third of it is gone (as acquire() would
   * take it otherwise). Read
   * often and written seldom: checking that the work is still ours costs a
   * read, not a write, on every check.
   */
  async keep(id: string, now = Date.now()): Promise<boolean> {
    const doc = await this.docs.findOne({ _id: id } as Filter<T>);
    if (doc === undefined) return false;
    if (doc.leaseOwner === this.owner && doc.leaseUntil - now > (this.ms * 2) / 3) return true;
    return this.acquire(id, now);
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
    await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, { $set: { leaseUntil: now } } as Update<T>);
  }

  async release(id: string): Promise<void> {
    await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, { $set: { leaseUntil: 0 } } as Update<T>);
  }
}
