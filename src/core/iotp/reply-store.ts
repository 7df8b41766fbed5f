import { type Collection, DuplicateKeyError, type Store } from "../../store/store.js";
import type { InstanceLiveness } from "./instance-liveness.js";
import { CallerQuota, type ReplyQuota } from "./caller-quota.js";
import { quotaError } from "./retention.js";
import { TakeFences } from "./take-fences.js";

/** A stored outcome of a state-changing call, keyed by caller, method and request id. */
export interface ReplyDoc {
  _id: string;
  /** Who made the call ("<role>:<participant>"), for its quota; "" when not counted. */
  caller?: string;
  /** SHA-256 of the request message: the same id with another payload is refused. */
  digest: string;
  state: "running" | "done";
  /**
   * The instance working on it, and until when its claim holds without
   * renewal. A crashed owner is taken over once its heartbeat stops
   * (InstanceLiveness) or its lease runs out, whichever comes first.
   */
  owner: string;
  leaseUntil: number;
  /** Base64 of the response message, on success. */
  response?: string;
  error?: { code: number; message: string; details: { type: string; value: string }[] };
  createdAt: number;
  expiresAt: number;
}

/**
 * The outcome of one run of a claim, written once by the instance that ran
 * it: an insert, never an update of the claim. On FerretDB 1.x an update or a
 * delete, even by `_id`, costs a scan of its collection (the stored replies
 * are the largest collection of a hop), while an insert and a read by `_id`
 * do not; every state-changing call at every hop paid that scan.
 */
interface OutcomeDoc extends Pick<ReplyDoc, "response" | "error" | "expiresAt"> {
  /** outcomeId(): the claim's key, its run (first claim) and the instance that ran it. */
  _id: string;
}

/** A late outcome of an owner whose claim was taken over names the old owner: it is never read. */
function outcomeId(claim: Pick<ReplyDoc, "_id" | "owner" | "createdAt">): string {
  return `${claim.owner} ${claim.createdAt} ${claim._id}`;
}

export type Claim =
  /** `since`: when this request was first claimed; a takeover after a crash keeps it. */
  | { kind: "new"; since: number }
  | { kind: "done"; doc: ReplyDoc }
  | { kind: "running"; doc: ReplyDoc }
  | { kind: "mismatch"; doc: ReplyDoc };

/**
 * The stored replies of one role. A call claims its key with one insert (the
 * unique _id makes concurrent duplicates lose), records the outcome with one
 * conditional update, and is forgotten after its time to live (which
 * config.ts keeps longer than any retransmission of the call). A caller over
 * its quota gets no new claim (RESOURCE_EXHAUSTED, CALLER_QUOTA): a stored
 * reply is never dropped early, as its retransmission would be done again.
 */
export class ReplyStore {
  /** Each caller's stored replies against its quota. */
  private readonly quota: CallerQuota;
  /** Outcomes being stored in the background (completeInBackground). */
  private readonly storing = new Set<Promise<void>>();

  private constructor(
    private readonly replies: Collection<ReplyDoc>,
    private readonly outcomes: Collection<OutcomeDoc>,
    readonly ttlMs: number,
    readonly leaseMs: number,
    private readonly liveness: Pick<InstanceLiveness, "id" | "isAlive">,
    quota: ReplyQuota | undefined,
    /** One winner among instances taking a dead owner's claim at once. */
    private readonly fences: TakeFences,
  ) {
    this.quota = new CallerQuota(quota, (caller, now) => this.replies.count({ caller, expiresAt: { $gt: now } }));
  }

  static async open(
    store: Store,
    ttlMs: number,
    leaseMs: number,
    liveness: Pick<InstanceLiveness, "id" | "isAlive">,
    quota?: ReplyQuota,
  ): Promise<ReplyStore> {
    const replies = await store.collection<ReplyDoc>("replies", [{ fields: ["expiresAt"] }, { fields: ["caller"] }]);
    const outcomes = await store.collection<OutcomeDoc>("reply_outcomes", [{ fields: ["expiresAt"] }]);
    return new ReplyStore(replies, outcomes, ttlMs, leaseMs, liveness, quota, await TakeFences.open(store, liveness));
  }

  /** This instance, as owner of the claims it makes. */
  get instance(): string {
    return this.liveness.id;
  }

  /** True when the claim's owner is gone: its lease ran out or its instance stopped beating. */
  async orphaned(doc: ReplyDoc, now = Date.now()): Promise<boolean> {
    return doc.state === "running" && (doc.leaseUntil <= now || !(await this.liveness.isAlive(doc.owner, now)));
  }

  /** Claims `key` for a call of `caller` ("<role>:<participant>"; "" is not counted against a quota). */
  async claim(key: string, digest: string, now = Date.now(), caller = ""): Promise<Claim> {
    const fresh: ReplyDoc = {
      _id: key,
      ...(caller === "" ? {} : { caller }),
      digest,
      state: "running",
      owner: this.instance,
      leaseUntil: now + this.leaseMs,
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
    const { duplicates } = await this.replies.insertMany([fresh]);
    if (duplicates.length === 0) return this.withinQuota(key, caller, now);
    const doc = await this.get(key);
    if (doc === undefined) return this.claim(key, digest, now, caller); // forgotten meanwhile
    if (doc.expiresAt <= now) return this.takeOver(doc, fresh); // forgotten: a new request
    if (doc.digest !== digest) return { kind: "mismatch", doc };
    if (doc.state === "done") return { kind: "done", doc };
    // The owner died mid-call: take over the same request (same start, same expiry).
    return (await this.orphaned(doc, now))
      ? this.takeOver(doc, { ...fresh, createdAt: doc.createdAt, expiresAt: doc.expiresAt })
      : { kind: "running", doc };
  }

  /**
   * Counted after the insert, so a retransmission of a stored call is
   * always answered, whatever the quota: only a new key is given back
   * (CallerQuota says when the count is read on the call's path).
   */
  private async withinQuota(key: string, caller: string, now: number): Promise<Claim> {
    if (await this.quota.admits(caller, now)) return { kind: "new", since: now };
    await this.release(key);
    throw quotaError("stored replies", this.quota.limitOf(caller));
  }

  /**
   * A claim whose owner died (heartbeat or lease over) or that expired: take
   * it with a conditional update. An outcome its old owner writes from now
   * on is not read (outcomeId): the new owner's run is the one that counts.
   */
  private async takeOver(old: ReplyDoc, fresh: ReplyDoc): Promise<Claim> {
    const { _id, ...rest } = fresh;
    const taken = await this.fences.run(claimState(old), () =>
      this.replies.updateOne({ _id, owner: old.owner, leaseUntil: old.leaseUntil }, { $set: { ...rest } }),
    );
    if (taken !== undefined) return { kind: "new", since: fresh.createdAt };
    const now = await this.get(_id);
    return now === undefined
      ? this.claim(_id, fresh.digest)
      : now.state === "done"
        ? { kind: "done", doc: now }
        : { kind: "running", doc: now };
  }

  /**
   * For a sweep that undoes what a dead call left half-written: takes the
   * claim of `key` over if its owner died, so that no retry runs the request
   * meanwhile. "free": no run can continue under this claim (none, done, or
   * expired: a new run gets a new `since`); "seized": this instance holds it
   * (release() it when done); "busy": a live instance runs the request.
   */
  async seize(key: string, now = Date.now()): Promise<"free" | "seized" | "busy"> {
    const doc = await this.get(key);
    if (doc === undefined || doc.state === "done" || doc.expiresAt <= now) return "free";
    if (doc.owner === this.instance || !(await this.orphaned(doc, now))) return "busy";
    const taken = await this.fences.run(claimState(doc), () =>
      this.replies.updateOne(
        { _id: key, owner: doc.owner, leaseUntil: doc.leaseUntil, state: "running" },
        { $set: { owner: this.instance, leaseUntil: now + this.leaseMs } },
      ),
    );
    return taken === undefined ? "busy" : "seized";
  }

  /** Keeps this instance's claim alive while the work runs. */
  async renew(key: string): Promise<void> {
    await this.replies.updateOne({ _id: key, owner: this.instance, state: "running" }, { $set: { leaseUntil: Date.now() + this.leaseMs } });
  }

  /**
   * Stores the outcome of this instance's run of `key`, first claimed at
   * `since` (the claim's "new" since; read from the claim when not given).
   * Once the claim is another instance's, the outcome is never read.
   */
  async complete(key: string, outcome: Pick<ReplyDoc, "response" | "error">, since?: number): Promise<void> {
    const createdAt = since ?? (await this.replies.findOne({ _id: key }))?.createdAt;
    if (createdAt === undefined) return;
    const claim = { _id: key, owner: this.instance, createdAt };
    try {
      // A claim expires ttlMs after its run's first claim (a take-over keeps both).
      await this.outcomes.insertOne({ _id: outcomeId(claim), ...outcome, expiresAt: createdAt + this.ttlMs });
    } catch (err) {
      if (!(err instanceof DuplicateKeyError)) throw err; // stored already: the same run's outcome
    }
  }

  /**
   * Stores a success's outcome without the caller waiting for it (see runOnce in
   * idempotency-interceptor.ts); `stored` is told when the write settled, landed or
   * not. A write that fails leaves the claim running: its lease runs out and a
   * retransmission takes the request over, as after a crash. settled() waits for them.
   */
  completeInBackground(key: string, outcome: Pick<ReplyDoc, "response">, since: number, stored: () => void): void {
    const write = this.complete(key, outcome, since)
      .catch(() => undefined)
      .finally(() => {
        this.storing.delete(write);
        stored();
      });
    this.storing.add(write);
  }

  /** Once every outcome being stored in the background has been written (or failed): before the instance says it stopped. */
  async settled(): Promise<void> {
    await Promise.all([...this.storing]);
  }

  /** Transient outcomes are not kept: the retry is processed afresh. */
  async release(key: string): Promise<void> {
    await this.replies.deleteMany({ _id: key, owner: this.instance });
  }

  /** The claim of `key`, "done" with its outcome once its owner stored one. */
  async get(key: string): Promise<ReplyDoc | undefined> {
    const claim = await this.replies.findOne({ _id: key });
    if (claim === undefined || claim.state === "done") return claim;
    const outcome = await this.outcomes.findOne({ _id: outcomeId(claim) });
    if (outcome === undefined) return claim;
    const { _id, expiresAt, ...result } = outcome;
    return { ...claim, state: "done", ...result };
  }

  /** Forgets replies past their time to live; says how many. */
  async sweep(now = Date.now()): Promise<number> {
    const [replies] = await Promise.all([
      this.replies.deleteMany({ expiresAt: { $lt: now } }),
      this.outcomes.deleteMany({ expiresAt: { $lt: now } }),
    ]);
    return replies;
  }
}

/** The claim state a take-over replaces, as its take fence names it. */
function claimState(doc: ReplyDoc): string {
  return `reply/${doc._id}|${doc.owner}|${doc.leaseUntil}`;
}
