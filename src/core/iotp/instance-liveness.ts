import { randomUUID } from "node:crypto";
import type { Collection, Doc, Store } from "../../store/store.js";
import { type Logger, sleep } from "../runtime/index.js";

/** One running process of a role, as its role's store knows it. */
export interface InstanceDoc extends Doc {
  /** Epoch ms of its last heartbeat, by its own clock. */
  heartbeatAt: number;
  startedAt: number;
  /** Host name and the address it listens on, once it does: one process at a time can hold it. */
  address?: string;
}

export interface LivenessOptions {
  /** How often an instance records that it is alive. */
  heartbeatMs: number;
  /** An instance whose heartbeat is older than this counts as dead: its claims and leases can be taken over. */
  deadMs: number;
}

/** How long an answer about another instance is reused: a resume scan asks about the same owners many times. */
const CACHE_MS = 250;
/** Heartbeats this old belong to instances long gone: their documents are dropped (missing counts as dead anyway). */
const FORGET_AFTER_MS = 10 * 60 * 1000;

/**
 * Which instances of a role are alive, recorded in the role's own store
 * (`instances`: _id = instance id, heartbeatAt renewed by a timer). A holder
 * that beats is never taken over, however slow its work; one killed stops
 * beating and its stored-reply claims and work leases become free after
 * `deadMs`, independently of how long those leases were. One write per
 * instance per heartbeat, whatever it holds.
 */
export class InstanceLiveness {
  readonly id: string = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private lastBeat = 0;
  /** When this instance last may have looked dead to another (see unbrokenSince); 0: never. */
  private brokenAt = 0;
  private readonly cache = new Map<string, { alive: boolean; at: number }>();
  private counted: { n: number; at: number } | undefined;
  /** When another instance's record was last seen (this one's start to begin with), and when that was last read. */
  private othersSeenAt = Date.now();
  private othersReadAt: number | undefined;
  private address: string | undefined;
  private readonly retiring = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  private constructor(
    private readonly instances: Collection<InstanceDoc>,
    readonly heartbeatMs: number,
    readonly deadMs: number,
    private readonly log: Logger | undefined,
  ) {}

  /** Records this instance as alive and keeps it so until stop(). */
  static async start(store: Store, o: LivenessOptions, log?: Logger): Promise<InstanceLiveness> {
    // Two missed heartbeats must not make a live instance look dead.
    if (o.deadMs < 2 * o.heartbeatMs)
      throw new Error(`INSTANCE_DEAD_MS (${o.deadMs}) must be at least twice INSTANCE_HEARTBEAT_MS (${o.heartbeatMs})`);
    const liveness = new InstanceLiveness(
      // Heartbeats pass the queue of a loaded database's writes: one late past deadMs lets another instance take this one's work.
      await store.collection<InstanceDoc>("instances", [{ fields: ["heartbeatAt"] }], { urgent: true }),
      o.heartbeatMs,
      o.deadMs,
      log,
    );
    const now = Date.now();
    await liveness.instances.insertOne({ _id: liveness.id, heartbeatAt: now, startedAt: now });
    liveness.lastBeat = now;
    liveness.timer = setInterval(() => liveness.tick(), o.heartbeatMs);
    liveness.timer.unref();
    return liveness;
  }

  /** True while `owner` beats; this instance is always alive to itself. */
  async isAlive(owner: string, now = Date.now()): Promise<boolean> {
    if (owner === this.id) return true;
    const cached = this.cache.get(owner);
    if (cached !== undefined && now - cached.at < CACHE_MS && now >= cached.at) return cached.alive;
    const doc = await this.instances.findOne({ _id: owner });
    // Unknown (never recorded, or forgotten long after it died) is dead.
    const alive = doc !== undefined && doc.heartbeatAt >= now - this.deadAfterMs(doc);
    this.cache.set(owner, { alive, at: now });
    if (this.cache.size > 1_000) this.cache.clear();
    return alive;
  }

  /**
   * Whether no other instance can have counted this one dead at any moment
   * from `since` to `now`: every heartbeat since landed within one and a half
   * heartbeats of the one before, and the last one is as recent. Another
   * instance counts this one dead only once its record is more than two
   * heartbeats old (one restarted at this address, on this host's clock) or
   * `deadMs` old (any other), so while this holds nobody took its leases from
   * it, and a holder that renews on time need not read them to know.
   */
  unbrokenSince(since: number, now = Date.now()): boolean {
    return this.brokenAt < since && now >= this.lastBeat && now - this.lastBeat <= this.safeGapMs;
  }

  private get safeGapMs(): number {
    return (3 * this.heartbeatMs) / 2;
  }

  /**
   * Records the address this instance listens on (host name and port). An
   * instance recorded there before this one counts as dead to this one once
   * it missed two heartbeats, not after `deadMs`: only one process can
   * listen on an address, so the one before is gone (or draining after
   * SIGTERM, and then still beating), and a restarted process takes its
   * predecessor's work over about a second after its kill. Its record is
   * then removed, so the other instances count it dead at once too (a call
   * retried at another instance need not wait `deadMs` for its claim).
   */
  async listensAt(address: string): Promise<void> {
    this.address = address;
    this.cache.clear();
    await this.instances.updateOne({ _id: this.id }, { $set: { address } });
    const before = (await this.instances.find({ address })).filter((d) => d._id !== this.id);
    for (const doc of before) {
      const retired = this.retireWhenSilent(doc);
      this.retiring.add(retired);
      void retired.finally(() => this.retiring.delete(retired));
    }
  }

  /** Removes a predecessor's record once it missed two heartbeats; one that still beats (draining) is left. */
  private async retireWhenSilent(doc: InstanceDoc): Promise<void> {
    try {
      await sleep(Math.max(0, doc.heartbeatAt + 2 * this.heartbeatMs - Date.now()), this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      const now = await this.instances.findOne({ _id: doc._id });
      if (now === undefined || Date.now() - now.heartbeatAt <= 2 * this.heartbeatMs) return;
      await this.instances.deleteMany({ _id: doc._id });
      this.log?.info(
        { instance: this.id, gone: doc._id, address: doc.address },
        "the instance that listened here before is gone: its record removed",
      );
    } catch (err) {
      if (!this.stopping.signal.aborted) this.log?.warn({ err }, "could not remove the record of the instance that listened here before");
    }
  }

  private deadAfterMs(doc: InstanceDoc): number {
    return this.address !== undefined && doc.address === this.address ? 2 * this.heartbeatMs : this.deadMs;
  }

  /** Reads this instance's own record: one cheap round trip that shows whether the store answers. */
  async probe(): Promise<void> {
    await this.instances.findOne({ _id: this.id });
  }

  /** How many instances of the role beat now, this one included (to share work among them). */
  async liveCount(now = Date.now()): Promise<number> {
    if (this.counted !== undefined && now - this.counted.at < CACHE_MS && now >= this.counted.at) return this.counted.n;
    const n = Math.max(1, await this.instances.count({ heartbeatAt: { $gte: now - this.deadMs } }));
    this.counted = { n, at: now };
    return n;
  }

  /**
   * Whether other instances may hold or drop work this one should take: one is
   * recorded in the role's store, or was within the last two INSTANCE_DEAD_MS,
   * or this one started within that time (a predecessor at its address is
   * removed once silent, and its work is taken after). Read at most once a
   * heartbeat (a count of a tiny collection).
   */
  async crowded(now = Date.now()): Promise<boolean> {
    if (this.othersReadAt === undefined || now - this.othersReadAt >= this.heartbeatMs || now < this.othersReadAt) {
      this.othersReadAt = now;
      if ((await this.instances.count({ _id: { $ne: this.id } })) > 0) this.othersSeenAt = now;
    }
    return now - this.othersSeenAt < 2 * this.deadMs;
  }

  /** Stops beating and removes the record, so what this instance still holds is free at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.all([...this.retiring]);
    await this.beating;
    await this.instances.deleteMany({ _id: this.id });
  }

  private tick(): void {
    if (this.beating !== undefined) return; // a slow store: one write at a time
    const now = Date.now();
    // A process that could not beat for deadMs may have been taken over meanwhile: say so.
    if (now - this.lastBeat > this.deadMs)
      this.log?.warn({ instance: this.id, silentMs: now - this.lastBeat }, "heartbeat was late: this instance may have counted as dead");
    this.beating = this.beat(now)
      .catch((err: unknown) => this.log?.warn({ err }, "heartbeat failed"))
      .finally(() => (this.beating = undefined));
  }

  private addressField(): { address?: string } {
    return this.address === undefined ? {} : { address: this.address };
  }

  private async beat(now: number): Promise<void> {
    // $set, not an upsert: a record swept while this instance stalled is written again.
    const updated = await this.instances.updateOne({ _id: this.id }, { $set: { heartbeatAt: now } });
    if (updated === undefined)
      await this.instances.insertMany([{ _id: this.id, heartbeatAt: now, startedAt: now, ...this.addressField() }]);
    // The record was as old as the beat before until this one landed; a swept record counted dead meanwhile.
    const landed = Date.now();
    if (updated === undefined || landed - this.lastBeat > this.safeGapMs) this.brokenAt = landed;
    this.lastBeat = now;
    if (Math.random() < this.heartbeatMs / 60_000) await this.instances.deleteMany({ heartbeatAt: { $lt: now - FORGET_AFTER_MS } });
  }
}
