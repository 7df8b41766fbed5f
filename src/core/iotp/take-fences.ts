import { type Collection, type Doc, DuplicateKeyError, type Store } from "../../store/store.js";
import type { InstanceLiveness } from "./instance-liveness.js";

/** A take in progress: `_id` names the state it replaces and an attempt number. */
interface FenceDoc extends Doc {
  /** The instance taking it. */
  by: string;
  at: number;
}

/** Attempts per state: each needs the one before it left by a taker that died mid-take. */
const MAX_ATTEMPTS = 16;
/** A fence this old is in the way whoever holds it: a take is a few store operations. */
const STUCK_MS = 60_000;

/**
 * One winner among instances that take the same document over at once (a
 * lease whose holder died, a claim whose owner died). A conditional update
 * alone cannot decide it on every store: FerretDB 1.x runs one as a read and
 * then a write by `_id`, so two processes can both see the old state and both
 * write (see MongoStore.connect). An insert with a given `_id` is atomic
 * everywhere, so each taker first inserts a fence named after the exact state
 * it replaces; the one whose insert went in makes the conditional update, and
 * removes the fence after it, when the state has changed (a later taker's
 * update then finds nothing to replace). A fence left by a taker that died
 * mid-take is passed by the next attempt number.
 */
export class TakeFences {
  private constructor(
    private readonly fences: Collection<FenceDoc>,
    private readonly liveness: Pick<InstanceLiveness, "id" | "isAlive">,
  ) {}

  static async open(store: Store, liveness: Pick<InstanceLiveness, "id" | "isAlive">): Promise<TakeFences> {
    return new TakeFences(await store.collection<FenceDoc>("take_fences"), liveness);
  }

  /** Runs `take` if no other live instance is taking `state` over now; undefined if one is. */
  async run<R>(state: string, take: () => Promise<R | undefined>, now = Date.now()): Promise<R | undefined> {
    const fence = await this.enter(state, now);
    if (fence === undefined) return undefined;
    try {
      return await take();
    } finally {
      await this.fences.deleteMany({ _id: fence }).catch(() => undefined);
    }
  }

  /**
   * Forgets fences left by takers that died mid-take (one per such crash):
   * past STUCK_MS a fence is passed anyway, so removing it changes no take.
   */
  async sweep(now = Date.now()): Promise<number> {
    return this.fences.deleteMany({ at: { $lt: now - STUCK_MS } });
  }

  private async enter(state: string, now: number): Promise<string | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const _id = `${state}#${attempt}`;
      try {
        await this.fences.insertOne({ _id, by: this.liveness.id, at: now });
        return _id;
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
      }
      const held = await this.fences.findOne({ _id });
      // Gone meanwhile: its taker finished, and the state it replaced is no more.
      if (held === undefined) continue;
      if (held.by !== this.liveness.id && now - held.at < STUCK_MS && (await this.liveness.isAlive(held.by, now))) return undefined;
    }
    return undefined;
  }
}
