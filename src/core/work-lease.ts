import type { Collection, Doc, Filter, Update } from "../store/store.js";

/** A document whose background work (emission, filling) one instance at a time may do. */
export interface LeasedDoc extends Doc {
  leaseOwner: string;
  /** Epoch ms; 0 when nobody holds it. */
  leaseUntil: number;
}

/**
 * Background work is leased, so that of several instances on one database
 * exactly one does it, and another takes it over when that one dies: the
 * holder renews its lease; anyone may take a lease that ran out. Both are
 * single-document conditional updates.
 */
export class WorkLease<T extends LeasedDoc> {
  constructor(
    private readonly docs: Collection<T>,
    readonly owner: string,
    readonly ms: number,
  ) {}

  /** Takes or renews the lease; false if another live instance holds it. */
  async acquire(id: string, now = Date.now()): Promise<boolean> {
    const set = { $set: { leaseOwner: this.owner, leaseUntil: now + this.ms } } as Update<T>;
    if ((await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, set)) !== undefined) return true;
    return (await this.docs.updateOne({ _id: id, leaseUntil: { $lt: now } } as Filter<T>, set)) !== undefined;
  }

  async release(id: string): Promise<void> {
    await this.docs.updateOne({ _id: id, leaseOwner: this.owner } as Filter<T>, { $set: { leaseUntil: 0 } } as Update<T>);
  }
}
