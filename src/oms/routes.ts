import { Code, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import { OmsService, StreamCodesResponseSchema } from "../gen/emission/oms/v1/oms_pb.js";
import { afterReplyOf, meshError, requestIdOf } from "../core/rpc/index.js";
import { callerOf } from "../core/iotp/index.js";
import { streamHopBlocks } from "../core/hop/index.js";
import { blockResponse } from "../core/codes/index.js";
import { OrderStateError, RequestInvalidError } from "../domain/domain-errors.js";
import { createOrder } from "./create-order.js";
import { acknowledgeBlocks } from "./acknowledge-blocks.js";
import { watchOrder } from "./watch-order.js";
import { cancelOrder, closeOrder, isCancelledBeforeCreation, type OrderLifecycleDeps } from "./order-lifecycle.js";
import { OPEN, toOrderMessage, type OrderDoc } from "./orders.js";
import { PRODUCT_GROUP_CATALOG } from "./product-group-catalog.js";

export type OmsDeps = OrderLifecycleDeps;

/** Registers OMS's handlers; every order call is scoped to the caller's participant. */
export function omsRoutes(d: OmsDeps): (router: ConnectRouter) => void {
  const participant = (ctx: HandlerContext): string => callerOf(ctx).participantId;
  return (router) =>
    router.service(OmsService, {
      async createOrder(req, ctx) {
        const participantId = participant(ctx);
        const requestId = requestIdOf(ctx);
        const order = await createOrder(
          {
            orders: d.records,
            registrar: d.client,
            journal: d.journal,
            // The fill opens a stream below: it waits for this reply to leave (after-reply.ts).
            fill: (id, fresh) => afterReplyOf(ctx).run(() => d.filler.fill(id, fresh)),
            newLease: (now) => d.filler.newLease(now),
            cancelledBefore: (p, r) => isCancelledBeforeCreation(d, p, r),
            cancel: async (id) => (await cancelOrder(d, { orderId: id, createRequestId: "" }, participantId, requestId)) as OrderDoc,
          },
          { participantId, order: req.order, requestId },
        );
        return { order: toOrderMessage(order) };
      },
      async getOrder(req, ctx) {
        return { order: toOrderMessage(await d.records.load(req.orderId, participant(ctx))) };
      },
      async *watchOrder(req, ctx) {
        for await (const order of watchOrder(d, req.orderId, participant(ctx), ctx.signal)) yield { order: toOrderMessage(order) };
      },
      async *streamCodes(req, ctx) {
        for await (const block of streamHopBlocks(d, req, participant(ctx), ctx.signal))
          yield blockResponse(StreamCodesResponseSchema, block, ctx); // as it was encoded where it was made
      },
      async getBlock(req, ctx) {
        const order = await d.records.load(req.orderId, participant(ctx));
        if (!OPEN.includes(order.status))
          throw new OrderStateError(order._id, OrderStatus[order.status], "its blocks can no longer be fetched");
        const seq = seqOf(req.blockId, order._id);
        const block = seq <= order.receivedBlocks ? await d.blocks.get(order._id, seq) : undefined;
        if (block === undefined)
          throw meshError(`block ${req.blockId} of order ${order._id} does not exist yet`, Code.NotFound, "BLOCK_NOT_FOUND");
        return { block };
      },
      async acknowledgeBlocks(req, ctx) {
        return { order: toOrderMessage(await acknowledgeBlocks(d, req.orderId, participant(ctx), req.throughBlock)) };
      },
      async closeOrder(req, ctx) {
        return { order: toOrderMessage(await closeOrder(d, req.orderId, participant(ctx), requestIdOf(ctx))) };
      },
      async cancelOrder(req, ctx) {
        // Exactly one of order_id and create_request_id (oms.proto): held by the contract interceptor.
        const order = await cancelOrder(d, req, participant(ctx), requestIdOf(ctx));
        return order === undefined ? {} : { order: toOrderMessage(order) };
      },
      listProductGroups() {
        return PRODUCT_GROUP_CATALOG;
      },
    });
}

function seqOf(blockId: string, orderId: string): number {
  const prefix = `${orderId}/`;
  const seq = blockId.startsWith(prefix) ? Number(blockId.slice(prefix.length)) : Number.NaN;
  if (!Number.isInteger(seq) || seq < 1) {
    throw new RequestInvalidError("", [
      { field: "block_id", description: `${JSON.stringify(blockId.slice(0, 200))} is not a block of order ${orderId} ("${prefix}<seq>")` },
    ]);
  }
  return seq;
}
