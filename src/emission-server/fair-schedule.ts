/** An order waiting for its turn, as the schedule sees it. */
interface Queued {
  id: string;
  participantId: string;
  /** Codes still to emit. */
  remaining: number;
  /** A block of it is being made: nobody else takes its next one (blocks of an order go in order). */
  busy: boolean;
}

/** One participant's orders, taken in turn. */
interface Lane {
  orders: Queued[];
  /** Index of the order whose turn is next. */
  next: number;
}

/**
 * Which order's block an instance makes next: round robin block by block,
 * first across participants, then across one participant's orders. Blocks
 * are all of one size (the last of an order may be shorter), so one block a
 * turn is fair in codes as well: a 100-code order behind a 150 000-code one
 * waits one block of it, not all of it. The readiness estimate of step 6 is
 * read off the same rotation.
 */
export class FairSchedule {
  private readonly lanes = new Map<string, Lane>();
  private readonly byId = new Map<string, Queued>();
  /** Participants in turn order; `turn` indexes the next one. */
  private ring: string[] = [];
  private turn = 0;
  /** Orders interrupted elsewhere (their streams wait): workers of their own take them, outside the rotation. */
  private readonly due = new Set<string>();

  constructor(private readonly blockSize: number) {}

  get size(): number {
    return this.byId.size;
  }

  /** Codes queued or being emitted: the work ahead. */
  get backlog(): number {
    let n = 0;
    for (const q of this.byId.values()) n += q.remaining;
    return n;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Codes the order still has to emit here (0 if it is not queued). */
  remaining(id: string): number {
    return this.byId.get(id)?.remaining ?? 0;
  }

  /** A block of the order is being made. */
  busy(id: string): boolean {
    return this.byId.get(id)?.busy === true;
  }

  /** Queues the order; `first`: it is served by workers of its own (takeDue), not by the rotation. */
  add(id: string, participantId: string, remaining: number, first = false): void {
    if (this.byId.has(id)) return;
    if (first) this.due.add(id);
    const q: Queued = { id, participantId, remaining, busy: false };
    this.byId.set(id, q);
    let lane = this.lanes.get(participantId);
    if (lane === undefined) {
      lane = { orders: [], next: 0 };
      this.lanes.set(participantId, lane);
      // A newcomer's turn comes after everyone who is already waiting, not before.
      this.ring.splice(this.turn, 0, participantId);
      this.turn = (this.turn + 1) % this.ring.length;
    }
    lane.orders.push(q);
  }

  /** Takes the next order whose turn it is and is not busy, and marks it busy. */
  take(): string | undefined {
    for (let tried = 0; tried < this.ring.length; tried++) {
      const participant = this.ring[this.turn] ?? "";
      this.turn = (this.turn + 1) % this.ring.length;
      const lane = this.lanes.get(participant);
      if (lane === undefined) continue;
      for (let k = 0; k < lane.orders.length; k++) {
        const i = (lane.next + k) % lane.orders.length;
        const q = lane.orders[i];
        if (q === undefined || q.busy || this.due.has(q.id)) continue;
        lane.next = (i + 1) % lane.orders.length;
        q.busy = true;
        return q.id;
      }
    }
    return undefined;
  }

  /** Whether the order was interrupted elsewhere and is served by workers of its own. */
  isDue(id: string): boolean {
    return this.due.has(id);
  }

  /** Takes an order due to a worker of its own that is not busy, and marks it busy. */
  takeDue(): string | undefined {
    const q = [...this.due].map((id) => this.byId.get(id)).find((d) => d !== undefined && !d.busy);
    if (q === undefined) return undefined;
    q.busy = true;
    return q.id;
  }

  /** The block taken is done (`codes` of it emitted); the order waits for its next turn. */
  release(id: string, codes: number): void {
    const q = this.byId.get(id);
    if (q === undefined) return;
    q.busy = false;
    q.remaining = Math.max(0, q.remaining - codes);
  }

  /** The order leaves the schedule (emitted, closed, or taken over by another instance). */
  remove(id: string): void {
    const q = this.byId.get(id);
    if (q === undefined) return;
    this.byId.delete(id);
    this.due.delete(id);
    const lane = this.lanes.get(q.participantId);
    if (lane === undefined) return;
    const i = lane.orders.indexOf(q);
    lane.orders.splice(i, 1);
    if (lane.next > i) lane.next--;
    if (lane.next >= lane.orders.length) lane.next = 0;
    if (lane.orders.length > 0) return;
    this.lanes.delete(q.participantId);
    const at = this.ring.indexOf(q.participantId);
    this.ring.splice(at, 1);
    if (this.turn > at) this.turn--;
    if (this.turn >= this.ring.length) this.turn = 0;
  }

  /** Orders queued here, newest last. */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  /**
   * Codes emitted here until a new order of `codes` codes for `participantId`
   * is done, its own included, if it joined now. It needs k blocks, so its
   * participant takes K = k + Σ min(bᵢ, k) turns (one block of each of its
   * other orders per round); every other participant gets at most K turns
   * meanwhile, one block each.
   */
  codesUntilDone(participantId: string, codes: number): number {
    const bs = this.blockSize;
    const k = Math.max(1, Math.ceil(codes / bs));
    let own = codes;
    let turns = k;
    const others = new Map<string, { remaining: number; inFlight: number }>();
    for (const q of this.byId.values()) {
      if (q.participantId === participantId) {
        own += Math.min(q.remaining, k * bs);
        turns += Math.min(Math.ceil(q.remaining / bs), k);
      } else {
        const o = others.get(q.participantId) ?? { remaining: 0, inFlight: 0 };
        o.remaining += q.remaining;
        if (q.busy) o.inFlight++; // a block in the making finishes before anyone's next turn
        others.set(q.participantId, o);
      }
    }
    let ahead = 0;
    for (const o of others.values()) ahead += Math.min(o.remaining, (turns + o.inFlight) * bs);
    return own + ahead;
  }
}
