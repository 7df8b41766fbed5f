import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { OrderSpecSchema, type CodeBlock } from "../gen/emission/common/v1/order_pb.js";
import {
  type CreateOrderResponse,
  OmsService,
  type Order,
  type ProductGroupRules,
  type StreamCodesRequestSchema,
} from "../gen/emission/oms/v1/oms_pb.js";
import { BackgroundTasks, type Logger } from "../core/runtime/index.js";
import { BlockStore, decodeBlock, type EncodedBlock, encodedCodeStream, pumpBlocks } from "../core/codes/index.js";
import { checkReply, Journal, type RetransmitPolicy, retransmittingTransport } from "../core/iotp/index.js";
import { CLIENT_DEFAULTS } from "../core/config.js";
import { currentTraceparent, inOrderTrace, inSpan, tracedTransport, withTrace } from "../core/telemetry/index.js";
import { OrderNotFoundError } from "../domain/domain-errors.js";
import { newRequestId, REQUEST_ID_HEADER, RETRANSMIT_CODES } from "../core/rpc/index.js";
import { MemoryStore } from "../store/memory-store.js";
import type { Collection, Store } from "../store/store.js";
import { openApcsOrders, openPlacements, type ApcsOrderDoc, type PlacementDoc } from "./apcs-orders.js";
import { insertOrLoad } from "../store/insert-or-load.js";
import { ACK_DEFAULTS, type AckPolicy, BlockAcknowledger } from "./block-acknowledger.js";

export const ROLE = "apcs";

export type OrderSpecInit = MessageInitShape<typeof OrderSpecSchema>;

export interface ApcsOptions {
  /** Transport to OMS; it must present this line's bearer token. Unary calls on it are retransmitted (retransmitting-transport.ts). */
  transport: Transport;
  log: Logger;
  /** Where the line keeps its orders, codes and journal (embedded by default). */
  store?: Store;
  /** Deadline of each attempt of a unary call (default: CALL_TIMEOUT_MS's, src/core/config.ts). */
  callTimeoutMs?: number;
  /** Retransmission of unanswered calls (default: RETRANSMIT_*'s, src/core/config.ts). */
  retransmit?: Omit<RetransmitPolicy, "callTimeoutMs">;
  /**
   * Keep received codes in the store (default). A caller that writes each
   * block elsewhere in onBlock (the CLI's --out file) turns this off: the
   * order's cursor is still kept, so cut streams still resume exactly once.
   */
  storeCodes?: boolean;
  /** How often received blocks are acknowledged to OMS (default ACK_DEFAULTS: every 16 blocks or 250 ms, and at the end). */
  ack?: Partial<AckPolicy>;
}

export interface ReceiveOptions {
  signal?: AbortSignal;
  /** Called after each block is stored here and before it is acknowledged (which may be with later blocks); a failure stops receiving. */
  onBlock?: (block: CodeBlock, order: ApcsOrderDoc) => void | Promise<void>;
}

/**
 * The line controller (АСУТП): places business orders at OMS, follows their
 * status and receives their codes exactly once.
 */
export class Apcs {
  private readonly oms: Client<typeof OmsService>;
  /** StreamCodes of OMS with the blocks kept as they came: stored as they are, decoded only for onBlock. */
  private readonly codeStream: ReturnType<typeof encodedCodeStream<typeof StreamCodesRequestSchema>>;
  private readonly tasks: BackgroundTasks;
  /** Acknowledgers of the code streams being received, by order. */
  private readonly receiving = new Map<string, BlockAcknowledger>();

  private constructor(
    private readonly o: ApcsOptions,
    private readonly store: Store,
    private readonly orders: Collection<ApcsOrderDoc>,
    private readonly placements: Collection<PlacementDoc>,
    private readonly blocks: BlockStore,
    readonly journal: Journal,
  ) {
    const policy = { ...CLIENT_DEFAULTS.retransmit, ...o.retransmit, callTimeoutMs: o.callTimeoutMs ?? CLIENT_DEFAULTS.callTimeoutMs };
    // Each attempt is a client span carrying the order's trace to OMS (a no-op unless the program started tracing).
    const transport = retransmittingTransport(tracedTransport(o.transport), policy, o.log);
    this.oms = createClient(OmsService, transport);
    this.codeStream = encodedCodeStream(transport, OmsService.method.streamCodes);
    this.tasks = new BackgroundTasks(o.log);
  }

  static async open(o: ApcsOptions): Promise<Apcs> {
    const store = o.store ?? new MemoryStore();
    return new Apcs(
      o,
      store,
      await openApcsOrders(store),
      await openPlacements(store),
      await BlockStore.open(store),
      await Journal.open(store, ROLE, o.log),
    );
  }

  /**
   * Steps 1 and 16-19: place the order; on error 17.1 journal and 17.2 end
   * (the error is thrown); step 19, the end, is the return. When OMS never answers, the placement is kept as
   * timed out: retryPlacement sends it again with the same request id, so it
   * still makes exactly one order.
   */
  async placeOrder(spec: OrderSpecInit, requestId = newRequestId()): Promise<Order> {
    // One business order, one trace: it starts here and crosses every hop.
    return inSpan("step 1: form order", { requestId, step: "1" }, () => this.place(spec, requestId));
  }

  private async place(spec: OrderSpecInit, requestId: string): Promise<Order> {
    const message = create(OrderSpecSchema, spec);
    await insertOrLoad(this.placements, {
      _id: requestId,
      spec: Buffer.from(toBinary(OrderSpecSchema, message)).toString("base64"),
      state: "sending",
      orderId: "",
      updatedAt: Date.now(),
    });
    let reply: CreateOrderResponse;
    try {
      reply = await checkReply(
        { journal: this.journal, step: "17", below: "OMS", orderRef: spec.productionOrderId ?? "", requestId, participantId: "" },
        () => this.oms.createOrder({ order: message }, { headers: { [REQUEST_ID_HEADER]: requestId } }),
        (r) => (r.order === undefined || r.order.orderId === "" ? "no order" : undefined),
      );
    } catch (err) {
      const transient = RETRANSMIT_CODES.has(ConnectError.from(err).code);
      await this.placements.updateOne({ _id: requestId }, { $set: { state: transient ? "timed_out" : "failed", updatedAt: Date.now() } });
      throw err;
    }
    const order = reply.order as Order;
    await this.placements.updateOne({ _id: requestId }, { $set: { state: "placed", orderId: order.orderId, updatedAt: Date.now() } });
    await inSpan("step 18: save order", { orderId: order.orderId, requestId, step: "18" }, () => this.save(order, requestId));
    this.tasks.start(`status:${order.orderId}`, (signal) => this.followStatus(order.orderId, signal)); // 18.1
    return order;
  }

  /** Sends a timed-out placement again, with its original request id. */
  async retryPlacement(requestId: string): Promise<Order> {
    const p = await this.placements.findOne({ _id: requestId });
    if (p === undefined) throw new ConnectError(`no placement with request id ${requestId}`, Code.NotFound);
    return this.placeOrder(fromBinary(OrderSpecSchema, Buffer.from(p.spec, "base64")), requestId);
  }

  /** Placements that got no answer: candidates for retryPlacement. */
  async timedOut(): Promise<PlacementDoc[]> {
    return this.placements.find({ state: "timed_out" });
  }

  /** Step 18: save the order as OMS described it. */
  private async save(order: Order, requestId: string): Promise<void> {
    const now = Date.now();
    await insertOrLoad(this.orders, {
      _id: order.orderId,
      productionOrderId: order.productionOrderId,
      requestId,
      status: order.status,
      bufferStatus: order.bufferStatus,
      totalCodes: Number(order.totalCodes),
      totalBlocks: order.readiness?.totalBlocks ?? 0,
      storedBlocks: 0,
      storedCodes: 0,
      createdAt: now,
      updatedAt: now,
      ...withTrace(currentTraceparent()),
    });
  }

  /**
   * Step 18.1, process 01.02.00.00: keep the saved status in step with OMS.
   * While codes flow, nearly every message only moves OMS's counters (one per
   * block or so): the saved order is written only when its status or buffer
   * status differs, a read instead of a write for the others.
   */
  private async followStatus(orderId: string, signal: AbortSignal): Promise<void> {
    for await (const order of this.watch(orderId, signal)) {
      const saved = await this.orders.findOne({ _id: orderId });
      if (saved !== undefined && saved.status === order.status && saved.bufferStatus === order.bufferStatus) continue;
      await this.orders.updateOne(
        { _id: orderId },
        { $set: { status: order.status, bufferStatus: order.bufferStatus, updatedAt: Date.now() } },
      );
    }
  }

  /** The order's status now and on every change, until it is finished. */
  async *watch(orderId: string, signal?: AbortSignal): AsyncGenerator<Order> {
    for await (const r of this.oms.watchOrder({ orderId }, signal === undefined ? {} : { signal })) {
      if (r.order !== undefined) yield r.order;
    }
  }

  async getOrder(orderId: string): Promise<Order> {
    const r = await this.oms.getOrder({ orderId });
    if (r.order === undefined) throw new OrderNotFoundError(orderId);
    return r.order;
  }

  /** The rules of every product group (templates, serial and crypto tail lengths, code layout), from OMS. */
  async productGroups(): Promise<ProductGroupRules[]> {
    return (await this.oms.listProductGroups({})).productGroups;
  }

  /** The order as saved on the line. */
  async savedOrder(orderId: string): Promise<ApcsOrderDoc> {
    const doc = await this.orders.findOne({ _id: orderId });
    if (doc === undefined) throw new OrderNotFoundError(orderId);
    return doc;
  }

  /**
   * Receives every code of the order exactly once: each block is stored here,
   * then acknowledged to OMS cumulatively in the background (BlockAcknowledger),
   * the last one before this returns; a cut stream resumes after the last stored block.
   */
  async receiveCodes(orderId: string, opts: ReceiveOptions = {}): Promise<ApcsOrderDoc> {
    const { traceparent, requestId } = await this.savedOrder(orderId);
    // Receiving and acknowledging the codes is part of the order's trace, whenever and wherever it runs.
    return inOrderTrace(traceparent, "step 18: receive codes", { orderId, requestId, step: "18" }, () => this.receive(orderId, opts));
  }

  private async receive(orderId: string, opts: ReceiveOptions): Promise<ApcsOrderDoc> {
    const signal = opts.signal ?? new AbortController().signal;
    const acks = new BlockAcknowledger((through) => this.acknowledge(orderId, through), { ...ACK_DEFAULTS, ...this.o.ack }, this.o.log);
    this.receiving.set(orderId, acks);
    try {
      await this.pump(orderId, signal, acks, opts);
      await acks.flush();
    } finally {
      acks.close();
      if (this.receiving.get(orderId) === acks) this.receiving.delete(orderId);
    }
    return this.savedOrder(orderId);
  }

  private async pump(orderId: string, signal: AbortSignal, acks: BlockAcknowledger, opts: ReceiveOptions): Promise<void> {
    await pumpBlocks({
      orderId,
      signal,
      log: this.o.log,
      open: (afterBlock, s) => this.codeStream({ orderId, afterBlock }, s),
      cursor: async () => (await this.savedOrder(orderId)).storedBlocks,
      // A resumed run first re-sends the acknowledgement of what is stored (the same ack id: the same ack).
      complete: async (cursor) => {
        if (cursor > 0) await this.acknowledge(orderId, cursor);
        const { totalBlocks } = await this.savedOrder(orderId);
        return totalBlocks > 0 && cursor >= totalBlocks;
      },
      store: async (block) => {
        const order = await this.storeBlock(block);
        if (opts.onBlock !== undefined) await opts.onBlock(decodeBlock(block), order);
        // Not awaited: an acknowledgement never holds up the stream. The last one is, so that a
        // failure to send it resumes the stream, whose first step sends it again.
        acks.storedThrough(block.seq);
        if (block.last) await acks.flush();
      },
    });
  }

  private async storeBlock(block: EncodedBlock): Promise<ApcsOrderDoc> {
    if (this.o.storeCodes !== false) await this.blocks.put(block);
    const saved = await this.savedOrder(block.orderId);
    const updated = await this.orders.updateOne(
      { _id: block.orderId, storedBlocks: block.seq - 1 },
      { $set: { storedBlocks: block.seq, storedCodes: saved.storedCodes + block.count, updatedAt: Date.now() } },
    );
    return updated ?? this.savedOrder(block.orderId);
  }

  private async acknowledge(orderId: string, seq: number): Promise<void> {
    // One id per (order, block): a repeated ack is the same ack.
    const requestId = `ack:${orderId}:${seq}`;
    await this.oms.acknowledgeBlocks({ orderId, throughBlock: seq }, { headers: { [REQUEST_ID_HEADER]: requestId } });
  }

  /** The stored codes of the order, block by block, in order. */
  async *codes(orderId: string): AsyncGenerator<CodeBlock> {
    const doc = await this.savedOrder(orderId);
    for (let after = 0; after < doc.storedBlocks; ) {
      const batch = await this.blocks.range(orderId, after, doc.storedBlocks, 16);
      if (batch.length === 0) return;
      for (const block of batch) yield decodeBlock(block);
      after = batch[batch.length - 1]?.seq ?? doc.storedBlocks;
    }
  }

  /** Fetches one block again from OMS by its id ("retry a lost block"). */
  async fetchBlock(orderId: string, blockId: string): Promise<CodeBlock> {
    const r = await this.oms.getBlock({ orderId, blockId });
    if (r.block === undefined) throw new OrderNotFoundError(orderId);
    return r.block;
  }

  /** Closes the order at OMS (and so at the Registrar and the Emission server). */
  async closeOrder(orderId: string, requestId = `close:${orderId}`): Promise<Order> {
    const r = await this.oms.closeOrder({ orderId }, { headers: { [REQUEST_ID_HEADER]: requestId } });
    await this.tasks.stop(`status:${orderId}`);
    if (r.order === undefined) throw new OrderNotFoundError(orderId);
    await this.orders.updateOne(
      { _id: orderId },
      { $set: { status: r.order.status, bufferStatus: r.order.bufferStatus, updatedAt: Date.now() } },
    );
    return r.order;
  }

  /**
   * Cancels an order at OMS (and so down the chain): by its id, or by the
   * request id of a placement whose answer never came.
   */
  async cancelOrder(
    target: { orderId: string } | { createRequestId: string },
    reason = "",
    requestId = newRequestId(),
  ): Promise<Order | undefined> {
    const req = "orderId" in target ? { orderId: target.orderId, reason } : { createRequestId: target.createRequestId, reason };
    // What the line stored is acknowledged first: a cancel voids every code not acknowledged.
    if ("orderId" in target)
      await this.receiving
        .get(target.orderId)
        ?.flush()
        .catch(() => undefined);
    const r = await this.oms.cancelOrder(req, { headers: { [REQUEST_ID_HEADER]: requestId } });
    if (r.order !== undefined) {
      await this.tasks.stop(`status:${r.order.orderId}`);
      await this.orders.updateOne(
        { _id: r.order.orderId },
        { $set: { status: r.order.status, bufferStatus: r.order.bufferStatus, updatedAt: Date.now() } },
      );
    }
    if ("createRequestId" in target)
      await this.placements.updateOne({ _id: target.createRequestId }, { $set: { state: "cancelled", updatedAt: Date.now() } });
    return r.order;
  }

  async close(): Promise<void> {
    await this.tasks.stopAll();
    if (this.o.store === undefined) await this.store.close();
  }
}
