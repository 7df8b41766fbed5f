import { create } from "@bufbuild/protobuf";
import { CodeBlockSchema, type CodeBlock } from "../../gen/emission/common/v1/order_pb.js";
import { DuplicateKeyError, type Collection, type Store } from "../../store/store.js";
import { decodeBlock, type EncodedBlock, encodeBlock } from "./encoded-block.js";

/** A block as its EncodedBlock: the bytes as encoded where it was made, sent on as they are. */
interface BlockDoc extends EncodedBlock {
  /** "<orderId>/<seq>": the block id handed out to consumers. */
  _id: string;
  /** Blocks stored before they were kept encoded hold their codes here instead. */
  codes?: string[];
}

export function blockId(orderId: string, seq: number): string {
  return `${orderId}/${seq}`;
}

/**
 * The numbered code blocks of each order at one hop, kept encoded. Storing a
 * block twice is harmless, which is what makes resumed streams exactly-once.
 */
export class BlockStore {
  private constructor(private readonly blocks: Collection<BlockDoc>) {}

  static async open(store: Store): Promise<BlockStore> {
    return new BlockStore(await store.collection<BlockDoc>("blocks", [{ fields: ["orderId"] }]));
  }

  /** Stores the block (encoding it if it comes decoded); false if it was already stored. */
  async put(block: CodeBlock | EncodedBlock): Promise<boolean> {
    const e = "wire" in block ? block : encodeBlock(block);
    try {
      await this.blocks.insertOne({
        _id: blockId(e.orderId, e.seq),
        orderId: e.orderId,
        seq: e.seq,
        gtin: e.gtin,
        last: e.last,
        count: e.count,
        wire: e.wire,
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
  async range(orderId: string, after: number, through: number, limit: number): Promise<EncodedBlock[]> {
    const out: EncodedBlock[] = [];
    for (let seq = after + 1; seq <= through && out.length < limit; seq++) {
      const doc = await this.blocks.findOne({ _id: blockId(orderId, seq) });
      if (doc === undefined) break;
      out.push(toEncoded(doc));
    }
    return out;
  }

  /** One block, decoded. */
  async get(orderId: string, seq: number): Promise<CodeBlock | undefined> {
    const doc = await this.blocks.findOne({ _id: blockId(orderId, seq) });
    return doc === undefined ? undefined : decodeBlock(toEncoded(doc));
  }

  /** How many codes the blocks with seq in (after, through] hold. */
  async countCodes(orderId: string, after: number, through: number): Promise<number> {
    let n = 0;
    for (let seq = after + 1; seq <= through; seq++) {
      const doc = await this.blocks.findOne({ _id: blockId(orderId, seq) });
      n += doc?.count ?? doc?.codes?.length ?? 0;
    }
    return n;
  }

  /** Drops the order's blocks from `after` on (voiding what was not delivered). */
  async dropAfter(orderId: string, after: number): Promise<number> {
    return this.blocks.deleteMany({ orderId, seq: { $gt: after } });
  }
}

function toEncoded(d: BlockDoc): EncodedBlock {
  const wire = bytesOf(d.wire);
  if (wire !== undefined) return { orderId: d.orderId, seq: d.seq, gtin: d.gtin, last: d.last, count: d.count, wire };
  const codes = [...(d.codes ?? [])];
  return encodeBlock(create(CodeBlockSchema, { orderId: d.orderId, seq: d.seq, blockId: d._id, gtin: d.gtin, codes, last: d.last }));
}

/** Stored bytes as the store hands them back: a Uint8Array (Buffer), or a BSON Binary. */
function bytesOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "object" && v !== null && "buffer" in v && v.buffer instanceof Uint8Array) {
    const position = "position" in v && typeof v.position === "number" ? v.position : v.buffer.length;
    return v.buffer.subarray(0, position);
  }
  return undefined;
}
