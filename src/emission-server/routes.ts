import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { OrderStatus } from "../gen/emission/common/v1/status_pb.js";
import {
  EmissionOrderSchema,
  EmitterService,
  type EmissionOrder,
  StreamCodesResponseSchema,
} from "../gen/emission/emitter/v1/emitter_pb.js";
import { type BlockProgress, streamBlocks, blockResponse } from "../core/codes/index.js";
import { afterReplyOf, requestIdOf, toConnectError } from "../core/rpc/index.js";
import { OrderStateError } from "../domain/domain-errors.js";
import { readinessOf } from "../core/hop/index.js";
import { requestClaimKey, requestSinceKey } from "../core/iotp/index.js";
import { cancelEmissionOrder, checkCode, closeEmissionOrder } from "./order-lifecycle.js";
import { createEmissionOrder } from "./create-emission-order.js";
import type { EmissionServerDeps } from "./emission-server-deps.js";
import type { EmissionOrderDoc } from "./emission-orders.js";

/** Registers the Emission server's handlers. */
export function emissionServerRoutes(d: EmissionServerDeps): (router: ConnectRouter) => void {
  const load = (orderId: string): Promise<EmissionOrderDoc> => d.db.orders.load(orderId);
  const progress = async (orderId: string): Promise<BlockProgress> => {
    const o = await load(orderId);
    const open = d.db.orders.isActive(o);
    return {
      stored: o.emittedBlocks,
      total: o.totalBlocks,
      ...(open ? {} : { ended: toConnectError(new OrderStateError(o._id, OrderStatus[o.status], "no more codes will be emitted")) }),
    };
  };
  return (router) =>
    router.service(EmitterService, {
      async createEmissionOrder(req, ctx) {
        const order = await createEmissionOrder(d, {
          participantId: req.participantId,
          order: req.order,
          requestId: requestIdOf(ctx),
          since: ctx.values.get(requestSinceKey),
          claim: ctx.values.get(requestClaimKey),
          afterReply: afterReplyOf(ctx),
        });
        return { orderId: order._id, readiness: readinessOf(order) }; // step 7
      },
      async getEmissionOrder(req) {
        return { order: toMessage(await load(req.orderId)) };
      },
      async *streamCodes(req, ctx) {
        await load(req.orderId);
        const storedHere = (orderId: string): boolean => d.emitter.emitsHere(orderId);
        const source = { blocks: d.blocks, notifier: d.notifier, progress, recheckMs: d.recheckMs, storedHere };
        // Each block goes out as it was encoded where it was made.
        for await (const block of streamBlocks(source, req.orderId, req.afterBlock, ctx.signal))
          yield blockResponse(StreamCodesResponseSchema, block, ctx);
      },
      async verifyCode(req) {
        const v = await checkCode(d, req.code);
        return { valid: v.valid, reason: v.valid ? "" : v.reason, gtin: v.gtin, serial: v.serial, keyId: v.keyId };
      },
      async cancelEmissionOrder(req) {
        return { order: toMessage(await cancelEmissionOrder(d, req.orderId, req.deliveredThroughBlock)) };
      },
      async closeEmissionOrder(req) {
        return { order: toMessage(await closeEmissionOrder(d, req.orderId)) };
      },
    });
}

function toMessage(o: EmissionOrderDoc): EmissionOrder {
  return create(EmissionOrderSchema, {
    orderId: o._id,
    participantId: o.participantId,
    productionOrderId: o.productionOrderId,
    productGroup: o.productGroup,
    status: o.status,
    readiness: readinessOf(o),
    emittedCodes: BigInt(o.emittedCodes),
    emittedBlocks: o.emittedBlocks,
    createTime: timestampFromMs(o.createdAt),
    updateTime: timestampFromMs(o.updatedAt),
    voidedAfterBlock: o.voidedAfterBlock ?? 0,
  });
}
