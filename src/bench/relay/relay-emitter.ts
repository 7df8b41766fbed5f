import { randomUUID } from "node:crypto";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { blockId } from "../../core/codes/index.js";
import { type KeyRing, signCode, verifyCode } from "../../domain/crypto-tail.js";
import { productGroupRules } from "../../domain/product-groups.js";
import { randomSerials } from "../../domain/serial-generator.js";
import { type OrderSpec, SerialNumberType } from "../../gen/emission/common/v1/order_pb.js";
import { OrderStatus } from "../../gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../gen/emission/emitter/v1/emitter_pb.js";

/** Codes per block, as the mesh's default BLOCK_SIZE. */
export const RELAY_BLOCK_SIZE = 1_000;

/** An order the bare emitter knows: only what it needs to make its blocks. */
interface RelayOrder {
  spec: OrderSpec;
  totalCodes: number;
  totalBlocks: number;
}

/** Where block `seq` (1-based) of the order lies: its product and that product's chunk. */
function locate(spec: OrderSpec, seq: number): { product: OrderSpec["products"][number]; chunk: number } {
  let first = 1;
  for (const product of spec.products) {
    const blocks = Math.ceil(product.quantity / RELAY_BLOCK_SIZE);
    if (seq < first + blocks) return { product, chunk: seq - first };
    first += blocks;
  }
  throw new Error(`block ${seq} is outside the order`);
}

/**
 * The signed codes of one block: the same serial generator, code format and
 * HMAC signing as the mesh's Emission server (src/domain), without the serial
 * registry, the stored chunk or the stored block.
 */
function makeCodes(spec: OrderSpec, seq: number, ring: KeyRing): { gtin: string; codes: string[] } {
  const { product, chunk } = locate(spec, seq);
  const rules = productGroupRules(spec.productGroup);
  if (rules === undefined) throw new Error(`unknown product group ${spec.productGroup}`);
  const from = chunk * RELAY_BLOCK_SIZE;
  const count = Math.min(RELAY_BLOCK_SIZE, product.quantity - from);
  const serials =
    product.serialNumberType === SerialNumberType.SELF_MADE
      ? product.serialNumbers.slice(from, from + count)
      : randomSerials(count, rules.serialLength);
  return { gtin: product.gtin, codes: serials.map((s) => signCode(ring, product.gtin, s, rules.tailLength)) };
}

/**
 * The bottom hop of the bare relay: EmitterService with orders in a Map and
 * codes made while the stream is read (the stream's own back-pressure paces
 * it). No validation, no registry, no journal, no pacing, no persistence.
 */
export function relayEmitterRoutes(ring: KeyRing): (router: ConnectRouter) => void {
  const orders = new Map<string, RelayOrder>();
  const known = (orderId: string): RelayOrder => {
    const order = orders.get(orderId);
    if (order === undefined) throw new ConnectError(`unknown order ${orderId}`, Code.NotFound);
    return order;
  };
  return (router) =>
    router.service(EmitterService, {
      createEmissionOrder(req) {
        const spec = req.order;
        if (spec === undefined) throw new Error("no order");
        const orderId = randomUUID();
        const totalCodes = spec.products.reduce((n, p) => n + p.quantity, 0);
        const totalBlocks = spec.products.reduce((n, p) => n + Math.ceil(p.quantity / RELAY_BLOCK_SIZE), 0);
        orders.set(orderId, { spec, totalCodes, totalBlocks });
        return { orderId, readiness: { totalCodes: BigInt(totalCodes), totalBlocks } };
      },
      getEmissionOrder(req) {
        const o = known(req.orderId);
        const readiness = { totalCodes: BigInt(o.totalCodes), totalBlocks: o.totalBlocks };
        return { order: { orderId: req.orderId, status: OrderStatus.PENDING, readiness } };
      },
      async *streamCodes(req) {
        const o = known(req.orderId);
        for (let seq = req.afterBlock + 1; seq <= o.totalBlocks; seq++) {
          const { gtin, codes } = makeCodes(o.spec, seq, ring);
          yield { block: { orderId: req.orderId, seq, blockId: blockId(req.orderId, seq), gtin, codes, last: seq === o.totalBlocks } };
        }
      },
      verifyCode(req) {
        const v = verifyCode(ring, req.code);
        return { valid: v.valid, reason: v.reason };
      },
      closeEmissionOrder(req) {
        orders.delete(req.orderId);
        return { order: { orderId: req.orderId, status: OrderStatus.CLOSED } };
      },
      cancelEmissionOrder(req) {
        orders.delete(req.orderId);
        return { order: { orderId: req.orderId, status: OrderStatus.CANCELLED } };
      },
    });
}
