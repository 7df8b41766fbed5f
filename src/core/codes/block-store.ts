import { create } from "@bufbuild/protobuf";
import { CodeBlockSchema, type CodeBlock } from "../../gen/emission/common/v1/order_pb.js";
import { DuplicateKeyError, type Collection, type Store } from "../../store/store.js";

interface BlockDoc {
  /** "<orderId>/<seq>": the block id handed out to consumers. */
  _id: string;
  orderId: string;
  seq: number;
  gtin: string;
  codes: string[];
  last: boolean;
}

export function blockId(orderId: string, seq: number): string {
  return `${orderId}/${seq}`;
}

/**
 * The numbered code blocks of each order at one hop. Storing a block twice is
 * harmless, which is what makes resumed streams exactly-once.
 */
export class BlockStore {
  private constructor(private readonly blocks: Collection<BlockDoc>) {}

  static async open(store: Store): Promise<BlockStore> {
    return new BlockStore(await store.collection<BlockDoc>("blocks", [{ fields: ["orderId"] }]));
  }

  /** Stores the block; false if it was already stored. */
  async put(block: CodeBlock): Promise<boolean> {
    try {
      await this.blocks.insertOne({
        _id: blockId(block.orderId, block.seq),
        orderId: block.orderId,
        seq: block.seq,
        gtin: block.gtin,
        codes: block.codes,
        last: block.last,
      });
      return true;
    } catch (err) {
      if (err instanceof DuplicateKeyError) return false;
      throw err;
    }
  }

  /**
   * Blocks with seq in (after, through], in order, at most `limit`, stopping
   * at the first one missing. Read by key, block by block: a key lookup is
   * fast on every backend, a range scan is not on all of them.
   */
  async range(orderId: string, after: number, through: number, limit: number): Promise<CodeBlock[]> {
    const out: CodeBlock[] = [];
    for (let seq = after + 1; seq <= through && out.length < limit; seq++) {
      const block = await this.get(orderId, seq);
      if (block === undefined) break;
      out.push(block);
    }
    return out;
  }

  async get(orderId: string, seq: number): Promise<CodeBlock | undefined> {
    const doc = await this.blocks.findOne({ _id: blockId(orderId, seq) });
    return doc === undefined ? undefined : toBlock(doc);
  }

  /** How many codes the blocks with seq in (after, through] hold. */
  async countCodes(orderId: string, after: number, through: number): Promise<number> {
    let n = 0;
    for (let seq = after + 1; seq <= through; seq++) n += (await this.blocks.findOne({ _id: blockId(orderId, seq) }))?.codes.length ?? 0;
    return n;
  }

  /** Drops the order's blocks from `after` on (voiding what was not delivered). */
  async dropAfter(orderId: string, after: number): Promise<number> {
    return this.blocks.deleteMany({ orderId, seq: { $gt: after } });
  }
}

function toBlock(d: BlockDoc): CodeBlock {
  return create(CodeBlockSchema, {
    orderId: d.orderId,
    seq: d.seq,
    blockId: d._id,
    gtin: d.gtin,
    codes: [...d.codes],
    last: d.last,
  });
}
