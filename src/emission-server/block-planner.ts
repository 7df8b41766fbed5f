import { SerialNumberType } from "../gen/emission/common/v1/order_pb.js";
import { blockId } from "../core/codes/index.js";
import { activeKey } from "../domain/crypto-tail.js";
import { type ProductGroupRules, productGroupRules } from "../domain/product-groups.js";
import type { BlockToMake } from "./block-maker.js";
import { allocateBlockSerials } from "./block-serials.js";
import { chunkKey, locateBlock, type EmissionOrderDoc } from "./emission-orders.js";
import type { EmissionRecords } from "./emission-records.js";
import type { EmitterFaults } from "./emitter-faults.js";
import { SerialsAhead } from "./serials-ahead.js";
import type { SigningKeys } from "./signing-keys.js";

export interface BlockPlannerDeps {
  db: EmissionRecords;
  /** Signs with its active key at the moment each block is made (a rotation applies from the next block). */
  keys: Pick<SigningKeys, "ring">;
  faults?: EmitterFaults | undefined;
}

/**
 * Step 6.1, before a block is signed: which serials it carries (the
 * product's reserved ones, or generated and taken in the registry, maybe
 * ahead of time: serials-ahead.ts) and which key signs it.
 */
export class BlockPlanner {
  private readonly ahead = new SerialsAhead();

  constructor(private readonly d: BlockPlannerDeps) {}

  /** Block `seq` to sign: its serials (maybe taken ahead) and the key active now. */
  async toMake(order: EmissionOrderDoc, seq: number): Promise<BlockToMake> {
    const serials = await this.ahead.take(order._id, seq, () => this.serials(order, seq));
    const { gtin } = locateBlock(order, seq).product;
    const [orderId, last, key] = [order._id, seq === order.totalBlocks, activeKey(this.d.keys.ring)];
    return { orderId, seq, blockId: blockId(orderId, seq), gtin, serials, tailLength: rulesOf(order).tailLength, last, key };
  }

  /** Starts taking block `seq`'s serials now, for the block made after the current one. */
  takeAhead(order: EmissionOrderDoc, seq: number): void {
    this.ahead.start(order._id, seq, () => this.serials(order, seq));
  }

  /** Forgets what was taken ahead for the order (it stays taken, for whoever makes that block). */
  drop(orderId: string): void {
    this.ahead.drop(orderId);
  }

  /** Once every taking ahead in flight has ended. */
  settled(): Promise<void> {
    return this.ahead.settled();
  }

  /** Block `seq`'s serials, taken in the registry: the product's reserved ones, or generated. */
  private async serials(order: EmissionOrderDoc, seq: number): Promise<string[]> {
    const { index, product, chunk } = locateBlock(order, seq);
    const rules = rulesOf(order);
    const count = Math.min(order.blockSize, product.quantity - chunk * order.blockSize);
    const serials =
      product.serialNumberType === SerialNumberType.SELF_MADE
        ? await this.reservedSerials(order._id, index, chunk)
        : await allocateBlockSerials(
            this.d.db.serials,
            { orderId: order._id, product: index, chunk, gtin: product.gtin, count, length: rules.serialLength, seed: order.serialSeed },
            this.d.faults,
          );
    await this.d.faults?.serialsTaken?.(chunkKey(order._id, index, chunk));
    return serials;
  }

  private async reservedSerials(orderId: string, product: number, chunk: number): Promise<string[]> {
    return (await this.d.db.serials.chunk(chunkKey(orderId, product, chunk)))?.serials ?? [];
  }
}

function rulesOf(order: EmissionOrderDoc): ProductGroupRules {
  const rules = productGroupRules(order.productGroup);
  if (rules === undefined) throw new Error(`order ${order._id} has an unknown product group`);
  return rules;
}
