import { create } from "@bufbuild/protobuf";
import { CodeBlockSchema, SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { blockId, type BlockStore } from "../core/codes/index.js";
import { type Logger, type Notifier, sleep } from "../core/runtime/index.js";
import type { WorkLease } from "../core/iotp/index.js";
import { detached, inOrderTrace, type MeshMetrics } from "../core/telemetry/index.js";
import { signCode } from "../domain/crypto-tail.js";
import { productGroupRules } from "../domain/product-groups.js";
import { chunkKey, locateBlock, type EmissionOrderDoc } from "./emission-orders.js";
import type { EmissionRecords } from "./emission-records.js";
import { allocateBlockSerials } from "./block-serials.js";
import type { EmitterFaults } from "./emitter-faults.js";
import type { SigningKeys } from "./signing-keys.js";

/**
 * Orders emitted at once by one instance, sharing its rate: a few, so that an
 * order taken over from a dead instance starts at once instead of waiting
 * behind a long one, and one large order does not hold up small ones.
 */
const EMITTING = 4;

export interface EmitterDeps {
  db: EmissionRecords;
  blocks: BlockStore;
  notifier: Notifier;
  /** Signs with its active key at the moment each block is made (a rotation applies from the next block). */
  keys: Pick<SigningKeys, "ring">;
  /** Codes per second. */
  rate: number;
  log: Logger;
  /** Which instance emits which order: several instances can share one database. */
  lease: WorkLease<EmissionOrderDoc>;
  /** Tests only: where to stop as if the process died. */
  faults?: EmitterFaults;
  /** Codes emitted, readiness-estimate error. */
  metrics: Pick<MeshMetrics, "codesEmitted" | "readinessError">;
}

/**
 * Step 6.1: emission runs in the background, up to EMITTING orders at a time in arrival
 * order, paced at the configured rate so the readiness estimate of step 6
 * holds. Each block is stored before the order's progress says it exists.
 */
export class Emitter {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private scanner: NodeJS.Timeout | undefined;
  /** Codes queued or being emitted: the work ahead of a new order. */
  private backlog = 0;
  /** The drain loops running, at most EMITTING. */
  private readonly workers = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  /** When the block being paced may leave: the end of its time slot. */
  private nextSlot = 0;

  constructor(private readonly d: EmitterDeps) {}

  /** Step 6: when an order of `codes` codes placed now will be ready. */
  estimateReadyAt(codes: number, now = Date.now()): number {
    return now + Math.ceil(((this.backlog + codes) / this.d.rate) * 1000);
  }

  /** Codes queued or being emitted (a metric). */
  get backlogCodes(): number {
    return this.backlog;
  }

  get instance(): string {
    return this.d.lease.owner;
  }

  get leaseMs(): number {
    return this.d.lease.ms;
  }

  /**
   * Step 6.1: hand the order to the background emitter. A taken-over order
   * (`now`) goes first and gets a worker of its own if every one is busy: it
   * was interrupted once already, and its stream is waiting.
   */
  enqueue(order: EmissionOrderDoc, now = false): void {
    if (this.stopping.signal.aborted) {
      // Stopping: the order is another instance's to emit, at once.
      void this.d.lease.release(order._id).catch(() => undefined);
      return;
    }
    if (this.queued.has(order._id)) return;
    this.queued.add(order._id);
    if (now) this.queue.unshift(order._id);
    else this.queue.push(order._id);
    this.backlog += order.totalCodes - order.emittedCodes;
    // A worker for every waiting order, up to EMITTING at once. (Counting workers against the queue's
    // length, as this did, left an order queued behind running ones whenever fewer were waiting than
    // running: a taken-over or new order then waited for a long order to finish.)
    while (this.queue.length > this.idle && (this.workers.size < EMITTING || now)) {
      // A worker serves many orders: it must not run inside the call that happened to start it.
      const worker: Promise<void> = detached(() => this.drain()).finally(() => this.workers.delete(worker));
      this.workers.add(worker);
      now = false;
    }
  }

  /** Workers waiting for an order (none: every worker is emitting one). */
  private get idle(): number {
    return Math.max(0, this.workers.size - (this.queued.size - this.queue.length));
  }

  /**
   * Picks up pending orders nobody is emitting: after a restart, or when the
   * instance that held them died. Runs now and then every heartbeat.
   */
  async resume(): Promise<void> {
    const pending = await this.d.db.orders.pendingOldestFirst();
    for (const order of pending) {
      if (this.queued.has(order._id) || this.stopping.signal.aborted) continue;
      // Skipped without a write while a live instance holds it.
      if (!(await this.d.lease.takeable(order))) continue;
      // Taken by whichever instance sees it first, busy or not, and started at once: leaving a dead
      // instance's order to an idle one made it wait out its whole lease (WORK_LEASE_MS) when every
      // instance was busy.
      if (await this.d.lease.acquire(order._id)) this.enqueue(order, true);
    }
  }

  startResuming(): void {
    // One scan at a time: on a slow store, scans started every interval would pile up and slow everything.
    let scanning = false;
    const scan = (): void => {
      if (scanning) return;
      scanning = true;
      void this.resume()
        .catch((err: unknown) => this.d.log.warn({ err }, "resume scan failed"))
        .finally(() => (scanning = false));
    };
    scan();
    this.scanner = setInterval(scan, Math.max(100, this.d.lease.scanMs));
    this.scanner.unref();
  }

  /**
   * Stops at a safe point (the block being made is stored first) and releases
   * the leases of the orders not finished, so another instance emits them at
   * once instead of after the lease or this instance's heartbeat ran out.
   */
  async stop(): Promise<void> {
    clearInterval(this.scanner);
    this.stopping.abort();
    await Promise.all([...this.workers]);
    await Promise.all([...this.queued].map((id) => this.d.lease.release(id).catch(() => undefined)));
  }

  private async drain(): Promise<void> {
    for (let id = this.queue.shift(); id !== undefined && !this.stopping.signal.aborted; id = this.queue.shift()) {
      const order = await this.d.db.orders.get(id);
      if (order === undefined) {
        this.queued.delete(id);
        continue;
      }
      const remaining = order.totalCodes - order.emittedCodes;
      const progress = { emitted: 0 };
      let retry = false;
      try {
        await this.emitOrder(order, progress);
      } catch (err) {
        // A failing store must not lose the order: it goes back in the queue.
        this.d.log.error({ orderId: id, err }, "emission failed; retrying the order");
        await sleep(1_000, this.stopping.signal);
        const latest = await this.d.db.orders.get(id).catch(() => undefined);
        retry = latest?.status === OrderStatus.PENDING;
      }
      // Emitted codes left the backlog block by block; drop what will never be.
      this.backlog -= remaining - progress.emitted;
      if (retry) {
        this.queue.push(id);
        this.backlog += remaining - progress.emitted;
      } else if (!this.stopping.signal.aborted) {
        // When stopping, it stays queued, so stop() releases its lease.
        this.queued.delete(id);
      }
    }
  }

  /** Emits the order's missing blocks, counting the codes in `progress`. */
  private async emitOrder(order: EmissionOrderDoc, progress: { emitted: number }): Promise<void> {
    const fields = { orderId: order._id, participantId: order.participantId, requestId: order.requestId, step: "6.1" };
    // Logged, so a stalled stream can be put on a timeline: when and where its order's emission (re)started.
    this.d.log.info(
      { orderId: order._id, fromBlock: order.emittedBlocks + 1, blocks: order.totalBlocks, instance: this.instance },
      "emitting",
    );
    for (let seq = order.emittedBlocks + 1; seq <= order.totalBlocks; seq++) {
      if (this.stopping.signal.aborted) return;
      // Each block is a span in the order's trace, found from the order record on whichever instance emits it.
      const more = await inOrderTrace(order.traceparent, "step 6.1: emit block", fields, () => this.emitBlock(order, seq, progress));
      if (!more) return;
    }
  }

  /** Emits block `seq` of the order; false when the order is no longer this instance's to emit. */
  private async emitBlock(order: EmissionOrderDoc, seq: number, progress: { emitted: number }): Promise<boolean> {
    const fresh = await this.d.db.orders.get(order._id);
    if (fresh === undefined || fresh.status !== OrderStatus.PENDING) return false; // closed or cancelled: stop
    if (!(await this.d.lease.acquire(fresh._id))) return false; // another instance took the order over
    const codes = await this.makeBlock(fresh, seq);
    await this.pace(codes.length);
    const last = seq === order.totalBlocks;
    const { product } = locateBlock(fresh, seq);
    await this.d.blocks.put(
      create(CodeBlockSchema, { orderId: order._id, seq, blockId: blockId(order._id, seq), gtin: product.gtin, codes, last }),
    );
    const updated = await this.d.db.orders.recordBlock(fresh, seq, codes.length);
    if (updated === undefined) return false; // closed meanwhile: the block stays unseen
    progress.emitted += codes.length;
    this.backlog -= codes.length;
    this.d.metrics.codesEmitted.inc(codes.length);
    if (last) this.d.metrics.readinessError.observe((Date.now() - fresh.readyAt) / 1000);
    this.d.notifier.notify(order._id);
    return true;
  }

  /** The signed codes of block `seq`: its product's serials, reserved or generated. */
  private async makeBlock(order: EmissionOrderDoc, seq: number): Promise<string[]> {
    const { index, product, chunk } = locateBlock(order, seq);
    const rules = productGroupRules(order.productGroup);
    if (rules === undefined) throw new Error(`order ${order._id} has an unknown product group`);
    const count = Math.min(order.blockSize, product.quantity - chunk * order.blockSize);
    const serials =
      product.serialNumberType === SerialNumberType.SELF_MADE
        ? await this.reservedSerials(order._id, index, chunk)
        : await allocateBlockSerials(
            this.d.db.serials,
            { orderId: order._id, product: index, chunk, gtin: product.gtin, count, length: rules.serialLength },
            this.d.faults,
          );
    await this.d.faults?.serialsTaken?.(chunkKey(order._id, index, chunk));
    const ring = this.d.keys.ring;
    return serials.map((s) => signCode(ring, product.gtin, s, rules.tailLength));
  }

  private async reservedSerials(orderId: string, product: number, chunk: number): Promise<string[]> {
    return (await this.d.db.serials.chunk(chunkKey(orderId, product, chunk)))?.serials ?? [];
  }

  /** Waits out the block's share of time at the configured rate, so codes exist when step 6 said. */
  private async pace(codes: number): Promise<void> {
    const now = Date.now();
    const end = Math.max(this.nextSlot, now) + (codes / this.d.rate) * 1000;
    this.nextSlot = end;
    if (end > now) await sleep(end - now, this.stopping.signal);
  }
}
