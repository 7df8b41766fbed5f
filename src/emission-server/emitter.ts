import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import type { BlockStore } from "../core/codes/index.js";
import { type Logger, type Notifier, repeatInTurn, sleep } from "../core/runtime/index.js";
import type { WorkLease } from "../core/iotp/index.js";
import { type AfterReply, afterReplyKey } from "../core/rpc/index.js";
import { detached, inOrderTrace, type MeshMetrics } from "../core/telemetry/index.js";
import type { EmissionOrderDoc } from "./emission-orders.js";
import type { EmissionRecords } from "./emission-records.js";
import { type BlockMaker, inThreadBlockMaker } from "./block-maker.js";
import { BlockPlanner } from "./block-planner.js";
import type { EmitterFaults } from "./emitter-faults.js";
import { FairSchedule } from "./fair-schedule.js";
import { Pacer } from "./pacer.js";
import type { SigningKeys } from "./signing-keys.js";

/**
 * Blocks one instance makes at once, sharing its rate: a few, so that the
 * store's round trips of one block overlap the pacing of others.
 */
const EMITTING = 4;
/** A block that takes longer than this to make and store is logged, with where its time went. */
const SLOW_BLOCK_MS = 2_000;

export interface EmitterDeps {
  db: EmissionRecords;
  blocks: BlockStore;
  notifier: Notifier;
  /** Signs with its active key at the moment each block is made (a rotation applies from the next block). */
  keys: Pick<SigningKeys, "ring">;
  /** Codes per second. */
  rate: number;
  /** Codes per block of new orders: the unit of a turn. */
  blockSize: number;
  log: Logger;
  /** Which instance emits which order: several instances can share one database. */
  lease: WorkLease<EmissionOrderDoc>;
  /** How many instances of the Emission server are alive (this one included), to share the orders among them. */
  instances?: () => Promise<number>;
  metrics: Pick<MeshMetrics, "codesEmitted" | "readinessError">;
  /** Where blocks are signed and encoded: worker threads, or this thread without. */
  maker?: BlockMaker;
  /** Tests only: where to stop as if the process died. */
  faults?: EmitterFaults;
}

/** What making one block of an order came to. */
interface Turn {
  codes: number;
  /** The order needs no more turns here: emitted, closed, cancelled or taken over. */
  done: boolean;
}

/**
 * Step 6.1: emission runs in the background, block by block, taking orders in
 * turn fairly across participants and then across one participant's orders
 * (FairSchedule), paced at the configured rate so the readiness estimate of
 * step 6 holds. Each block is stored before the order's progress says it
 * exists. Instances on one database share the pending orders: one holding
 * more than its share hands the surplus over at a block boundary.
 */
export class Emitter {
  private readonly schedule: FairSchedule;
  private stopScanning: (() => void) | undefined;
  /** The drain loops running, at most EMITTING. */
  private readonly workers = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  /** Blocks leave at the configured rate, so codes exist when step 6 said. */
  private readonly pacer: Pacer;
  private readonly maker: BlockMaker;
  /** Orders to give up at their next block boundary, for another instance to take. */
  private readonly handingOff = new Set<string>();
  /** The next block's serials of an order emitted alone, taken while its current block is made. */
  private readonly planner: BlockPlanner;

  constructor(private readonly d: EmitterDeps) {
    this.schedule = new FairSchedule(d.blockSize);
    this.pacer = new Pacer(d.rate, this.stopping.signal);
    this.maker = d.maker ?? inThreadBlockMaker;
    this.planner = new BlockPlanner(d);
  }

  /** Step 6: when an order of `codes` codes for `participantId`, placed now, will be ready, following the rotation. */
  estimateReadyAt(participantId: string, codes: number, now = Date.now()): number {
    return now + Math.ceil((this.schedule.codesUntilDone(participantId, codes) / this.d.rate) * 1000);
  }

  /** Whether this instance emits the order (it stores the order's blocks here). */
  emitsHere(orderId: string): boolean {
    return this.schedule.has(orderId);
  }

  /** Codes queued here or being emitted: the emission backlog. */
  get backlogCodes(): number {
    return this.schedule.backlog;
  }

  /** Codes per second this instance emits. */
  get rate(): number {
    return this.d.rate;
  }

  get instance(): string {
    return this.d.lease.owner;
  }

  get leaseMs(): number {
    return this.d.lease.ms;
  }

  /**
   * Step 6.1: hand the order to the background emitter. A taken-over order
   * gets a worker of its own even when every one is busy (on a slow store,
   * say): it was interrupted once already, and its stream is waiting.
   * A new order takes its place in the rotation (and in the estimates of
   * later creates) at once; its first block waits for `after`, the create's
   * reply leaving (after-reply.ts).
   */
  enqueue(order: EmissionOrderDoc, takenOver = false, after: AfterReply = afterReplyKey.defaultValue): void {
    if (this.stopping.signal.aborted) {
      // Stopping: the order is another instance's to emit, at once.
      void this.d.lease.release(order._id).catch(() => undefined);
      return;
    }
    if (this.schedule.has(order._id)) return;
    this.schedule.add(order._id, order.participantId, order.totalCodes - order.emittedCodes, takenOver);
    // Logged, so a stalled stream can be put on a timeline: when and where its order's emission (re)started.
    this.d.log.info(
      { orderId: order._id, fromBlock: order.emittedBlocks + 1, blocks: order.totalBlocks, instance: this.instance },
      "emitting",
    );
    after.run(() => this.startWorkers(takenOver));
  }

  private startWorkers(takenOver: boolean): void {
    while (this.workers.size < Math.min(EMITTING, this.schedule.size)) this.startWorker(false);
    if (takenOver) this.startWorker(true);
  }

  /**
   * Picks up pending orders nobody is emitting: after a restart, when the
   * instance that held them died, or when another handed them over; keeps
   * the leases of orders waiting for their turn; hands over what is beyond
   * this instance's share. Runs now and then every heartbeat.
   */
  async resume(): Promise<void> {
    const pending = await this.d.db.orders.pendingOldestFirst();
    const share = Math.ceil(pending.length / Math.max(1, (await this.d.instances?.()) ?? 1));
    const now = Date.now();
    for (const order of pending) {
      if (this.stopping.signal.aborted) return;
      if (this.schedule.has(order._id)) {
        if (order.leaseOwner === this.instance && order.leaseUntil < now + this.d.lease.ms / 2) await this.d.lease.acquire(order._id, now);
        continue;
      }
      // Skipped without a write while a live instance holds it.
      if (!(await this.d.lease.takeable(order, now))) continue;
      // A dead instance's order is taken by whichever instance sees it first, busy or not: its stream is
      // waiting, and leaving it to an instance below its share made it wait out its whole lease when every
      // instance was busy. A free order (run out, or handed over) goes to an instance below its share, or to
      // anyone once nobody took it for two scans (its view of the others may be stale; waiting a whole
      // lease stalled a handed-over order's stream for WORK_LEASE_MS whenever both views said "at share").
      const free = order.leaseUntil < now;
      const below = this.schedule.size < share;
      if (free && !below && order.leaseUntil >= now - 2 * this.d.lease.scanMs) continue;
      // Another instance's (dead, stopped or handing over): its stream is waiting, it starts at once.
      const interrupted = order.leaseOwner !== "" && order.leaseOwner !== this.instance;
      if (await this.d.lease.acquire(order._id, now)) this.enqueue(order, interrupted);
    }
    // Weighed against the share: only the orders this scan read. One created while it read is in
    // neither count; counted in the schedule alone, it was handed over as it started.
    this.handOverSurplus(share, new Set(pending.map((o) => o._id)));
  }

  startResuming(): void {
    this.stopScanning?.();
    this.stopScanning = this.d.lease.resumeEveryScan(() => this.resume(), this.d.log);
  }

  /**
   * Stops at a safe point (the block being made is stored first) and releases
   * the leases of the orders not finished, so another instance emits them at
   * once instead of after the lease or this instance's heartbeat ran out.
   */
  async stop(): Promise<void> {
    this.stopScanning?.();
    this.stopping.abort();
    await Promise.all([...this.workers]);
    await this.planner.settled();
    await Promise.all(this.schedule.ids().map((id) => this.d.lease.release(id).catch(() => undefined)));
  }

  /** Gives up the orders held beyond `share` (of those `seen`) with the most codes left: moving a long order costs it least. */
  private handOverSurplus(share: number, seen: ReadonlySet<string>): void {
    const held = this.schedule.ids().filter((id) => seen.has(id));
    const surplus = held.length - share;
    if (surplus <= 0) return;
    const largest = held
      // An interrupted order just moved here and its stream waits: it is not moved again.
      .filter((id) => !this.handingOff.has(id) && !this.schedule.isDue(id))
      .sort((a, b) => this.schedule.remaining(b) - this.schedule.remaining(a));
    for (const id of largest.slice(0, surplus)) {
      this.handingOff.add(id);
      if (!this.schedule.busy(id)) void this.handOver(id);
    }
  }

  /** Expires the lease now (not 0): an instance at its share leaves it to one below for a lease's time. */
  private async handOver(id: string): Promise<void> {
    this.d.log.info({ orderId: id, instance: this.instance }, "handing the order over: beyond this instance's share");
    this.schedule.remove(id);
    this.handingOff.delete(id);
    this.planner.drop(id);
    await this.d.lease.handOver(id).catch((err: unknown) => this.d.log.warn({ orderId: id, err }, "handing the order over failed"));
  }

  private startWorker(dueOnly: boolean): void {
    // A worker serves many orders: it must not run inside the call that happened to start it.
    const worker: Promise<void> = detached(() => this.drain(dueOnly)).finally(() => this.workers.delete(worker));
    this.workers.add(worker);
  }

  /**
   * One worker: takes the next order whose turn it is, makes one block of it,
   * and so on while there are any. A `dueOnly` worker serves the orders
   * interrupted elsewhere, so they move again at once even when every other
   * worker is held up (a slow store), then ends.
   */
  private async drain(dueOnly: boolean): Promise<void> {
    const next = (): string | undefined => (dueOnly ? this.schedule.takeDue() : this.schedule.take());
    for (let id = next(); id !== undefined && !this.stopping.signal.aborted; id = next()) {
      let turn: Turn;
      try {
        turn = await this.emitNextBlock(id);
      } catch (err) {
        // A failing store must not lose the order: it keeps its place in the rotation.
        this.d.log.error({ orderId: id, err }, "emission failed; retrying the order");
        await sleep(1_000, this.stopping.signal);
        const latest = await this.d.db.orders.get(id).catch(() => undefined);
        turn = { codes: 0, done: latest !== undefined && latest.status !== OrderStatus.PENDING };
      }
      if (turn.done) {
        this.schedule.remove(id);
        this.handingOff.delete(id);
        this.planner.drop(id);
      } else if (this.handingOff.has(id)) {
        await this.handOver(id);
      } else {
        this.schedule.release(id, turn.codes);
      }
    }
  }

  /** Makes, stores and records the order's next missing block. */
  private async emitNextBlock(id: string): Promise<Turn> {
    const fresh = await this.d.db.orders.get(id);
    if (fresh === undefined || fresh.status !== OrderStatus.PENDING) return { codes: 0, done: true }; // closed or cancelled: stop
    const fields = { orderId: id, participantId: fresh.participantId, requestId: fresh.requestId, step: "6.1" };
    // Each block is a span in the order's trace, found from the order record on whichever instance emits it.
    return inOrderTrace(fresh.traceparent, "step 6.1: emit block", fields, () => this.emitBlock(fresh));
  }

  private async emitBlock(fresh: EmissionOrderDoc): Promise<Turn> {
    const id = fresh._id;
    // The lease is renewed once half of it is gone, not with every block: a block costs no write for it.
    const held = fresh.leaseOwner === this.instance && fresh.leaseUntil > Date.now() + this.d.lease.ms / 2;
    if (!held && !(await this.d.lease.acquire(id))) {
      // Logged: a stream waiting on this order is now another instance's to serve.
      this.d.log.info({ orderId: id, instance: this.instance }, "order taken over by another instance: left to it");
      return { codes: 0, done: true };
    }
    const seq = fresh.emittedBlocks + 1;
    if (seq > fresh.totalBlocks) return { codes: 0, done: true };
    const started = Date.now();
    const toMake = await this.keepingLease(id, () => this.planner.toMake(fresh, seq));
    // An order alone here: its next block's serials are taken while this one is signed and stored (serials-ahead.ts).
    // With others waiting, their turns keep the main thread busy meanwhile, and serials are taken in turn.
    if (seq < fresh.totalBlocks && this.schedule.size === 1) this.planner.takeAhead(fresh, seq + 1);
    // Signed and encoded once (on a worker thread when there are any); every hop above stores and sends these bytes as they are.
    const block = await this.maker.make(toMake);
    const made = Date.now();
    await this.pacer.pace(block.count);
    const paced = Date.now();
    await this.d.blocks.put(block, fresh.emittedCodes + block.count);
    const updated = await this.d.db.orders.recordBlock(fresh, seq, block.count);
    if (Date.now() - started > SLOW_BLOCK_MS) {
      const times = { makeMs: made - started, paceMs: paced - made, storeMs: Date.now() - paced };
      this.d.log.warn({ orderId: id, seq, ...times }, "slow block");
    }
    if (updated === undefined) return { codes: 0, done: true }; // closed meanwhile: the block stays unseen
    this.d.metrics.codesEmitted.inc(block.count);
    if (block.last) this.d.metrics.readinessError.observe((Date.now() - fresh.readyAt) / 1000);
    this.d.notifier.notify(id);
    return { codes: block.count, done: block.last };
  }

  /**
   * Runs `work` with the order's lease kept. A block can take longer than a
   * lease to make (after a crash its serials' holders are read one by one
   * on a store without `$in` by index), and a lease left to run out meanwhile
   * lets another live instance start the same block: twice the reads on an
   * already slow store, again at every lease, so the block never ends.
   */
  private async keepingLease<T>(id: string, work: () => Promise<T>): Promise<T> {
    const lease = this.d.lease;
    // One keep at a time: on a slow store they would pile up.
    const stopKeeping = repeatInTurn(
      lease.ms / 3,
      () => lease.keep(id),
      () => undefined,
    );
    try {
      return await work();
    } finally {
      stopKeeping();
    }
  }
}
