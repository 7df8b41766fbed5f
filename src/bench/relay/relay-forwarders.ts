import type { ConnectRouter, Transport } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import type { Readiness } from "../../gen/emission/common/v1/order_pb.js";
import { BufferStatus, OrderStatus, PoolStatus } from "../../gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../gen/emission/registrar/v1/registrar_pb.js";

/** The relay has no callers to tell apart: every order is this participant's. */
const RELAY_PARTICIPANT = "relay";

/**
 * The middle hop of the bare relay: RegistrarService, each call passed one
 * hop down as it is. The stream is the stock connect path (every block
 * decoded from below and encoded again above), nothing stored on the way.
 */
export function relayRegistrarRoutes(below: Transport): (router: ConnectRouter) => void {
  const emitter = createClient(EmitterService, below);
  return (router) =>
    router.service(RegistrarService, {
      async createPool(req, ctx) {
        const r = await emitter.createEmissionOrder({ participantId: req.participantId, order: req.order }, { signal: ctx.signal });
        return { orderId: r.orderId, readiness: r.readiness, status: PoolStatus.IN_PROCESS };
      },
      async getPool(req, ctx) {
        const r = await emitter.getEmissionOrder({ orderId: req.orderId }, { signal: ctx.signal });
        return { pool: { orderId: req.orderId, status: PoolStatus.IN_PROCESS, readiness: r.order?.readiness } };
      },
      async *streamCodes(req, ctx) {
        for await (const r of emitter.streamCodes({ orderId: req.orderId, afterBlock: req.afterBlock }, { signal: ctx.signal })) {
          yield { block: r.block };
        }
      },
      async closePool(req, ctx) {
        await emitter.closeEmissionOrder({ orderId: req.orderId }, { signal: ctx.signal });
        return { pool: { orderId: req.orderId, status: PoolStatus.CLOSED } };
      },
      async cancelPool(req, ctx) {
        await emitter.cancelEmissionOrder(
          { orderId: req.orderId, deliveredThroughBlock: req.deliveredThroughBlock, reason: req.reason },
          { signal: ctx.signal },
        );
        return { pool: { orderId: req.orderId, status: PoolStatus.CANCELLED } };
      },
    });
}

function order(orderId: string, status: OrderStatus, readiness?: Readiness) {
  return {
    orderId,
    participantId: RELAY_PARTICIPANT,
    status,
    bufferStatus: status === OrderStatus.CLOSED ? BufferStatus.CLOSED : BufferStatus.ACTIVE,
    ...(readiness === undefined ? {} : { readiness, totalCodes: readiness.totalCodes }),
  };
}

/**
 * The top hop of the bare relay: OmsService as the APCS library calls it.
 * Acknowledgements are accepted and forgotten; WatchOrder tells the order
 * once and stays open, as a watch of an order that does not change would.
 * GetBlock and ListProductGroups are left out (UNIMPLEMENTED): nothing is
 * kept to answer them from, and the load generator does not call them.
 */
export function relayOmsRoutes(below: Transport): (router: ConnectRouter) => void {
  const registrar = createClient(RegistrarService, below);
  return (router) =>
    router.service(OmsService, {
      async createOrder(req, ctx) {
        const r = await registrar.createPool({ participantId: RELAY_PARTICIPANT, order: req.order }, { signal: ctx.signal });
        return { order: { ...order(r.orderId, OrderStatus.PENDING, r.readiness), productionOrderId: req.order?.productionOrderId ?? "" } };
      },
      async getOrder(req, ctx) {
        const r = await registrar.getPool({ orderId: req.orderId }, { signal: ctx.signal });
        return { order: order(req.orderId, OrderStatus.PENDING, r.pool?.readiness) };
      },
      async *watchOrder(req, ctx) {
        const r = await registrar.getPool({ orderId: req.orderId }, { signal: ctx.signal });
        yield { order: order(req.orderId, OrderStatus.PENDING, r.pool?.readiness) };
        if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      },
      async *streamCodes(req, ctx) {
        for await (const r of registrar.streamCodes({ orderId: req.orderId, afterBlock: req.afterBlock }, { signal: ctx.signal })) {
          yield { block: r.block };
        }
      },
      acknowledgeBlocks(req) {
        return { order: { orderId: req.orderId, deliveredBlocks: req.throughBlock } };
      },
      async closeOrder(req, ctx) {
        await registrar.closePool({ orderId: req.orderId }, { signal: ctx.signal });
        return { order: order(req.orderId, OrderStatus.CLOSED) };
      },
      async cancelOrder(req, ctx) {
        await registrar.cancelPool({ orderId: req.orderId, reason: req.reason }, { signal: ctx.signal });
        return { order: order(req.orderId, OrderStatus.CANCELLED) };
      },
    });
}
