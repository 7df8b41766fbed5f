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
  /** Codes in the order's blocks 1 to this one; absent on blocks stored before it was kept. */
  codesThrough?: number;
}

/** A block to store, with the codes of its order through it (what the record's counter says once it is recorded). */
export interface BlockToStore {
  block: CodeBlock | EncodedBlock;
  codesThrough?: number | undefined;
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
    // The hop's largest writes: kept apart from its orders and replies (CollectionOptions.bulk). Every read
    // and drop is by key ("<orderId>/<seq>"), so a block's insert maintains no index but `_id`; deployments
    // made before keep their old `orderId` index, unused (dropping it is the operator's call).
    return new BlockStore(await store.collection<BlockDoc>("blocks", [], { bulk: true }));
  }

  /** Stores the block (encoding it if it comes decoded); false if it was already stored. */
  async put(block: CodeBlock | EncodedBlock, codesThrough?: number): Promise<boolean> {
    try {
      await this.blocks.insertOne(toDoc({ block, codesThrough }));
      return true;
    } catch (err) {
      if (err instanceof DuplicateKeyError) return false;
      throw err;
    }
  }

  /** Stores blocks with one write (those already stored stay as they are); how many were new. */
  async putMany(blocks: readonly BlockToStore[]): Promise<number> {
    if (blocks.length === 1 && blocks[0] !== undefined) return (await this.put(blocks[0].block, blocks[0].codesThrough)) ? 1 : 0;
    return (await this.blocks.insertMany(blocks.map(toDoc))).inserted;
  }

  /**
   * Blocks with seq in (after, through], in order, at most `limit`, stopping
   * at the first one missing. Read by key, the lookups at once: a key lookup
   * is fast on every backend, a range or $in scan is not on all of them.
   */
  async range(orderId: string, after: number, through: number, limit: number): Promise<EncodedBlock[]> {
    const seqs = Array.from({ length: Math.max(0, Math.min(limit, through - after)) }, (_, i) => after + 1 + i);
    const docs = await Promise.all(seqs.map((seq) => this.blocks.findOne({ _id: blockId(orderId, seq) })));
    const out: EncodedBlock[] = [];
    for (const doc of docs) {
      if (doc === undefined) break;
      out.push(toEncoded(doc));
    }
    return out;
  }

  /**
   * Codes in the blocks with seq in (after, through], given the codes through
   * `after`: one read of block `through` when it keeps its order's count,
   * else a count block by block.
   */
  async codesAfter(orderId: string, after: number, codesThroughAfter: number, through: number): Promise<number> {
    if (through <= after) return 0;
    const doc = await this.blocks.findOne({ _id: blockId(orderId, through) });
    if (doc?.codesThrough !== undefined) return doc.codesThrough - codesThroughAfter;
    return this.countCodes(orderId, after, through);
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

  /**
   * Drops the order's blocks with seq in (after, through] (voiding what was
   * not delivered), by key: a filter on `orderId` reads the whole collection
   * on FerretDB, which took a cancel seconds at each hop under load.
   */
  async dropAfter(orderId: string, after: number, through: number): Promise<number> {
    const ids = Array.from({ length: Math.max(0, through - after) }, (_, i) => blockId(orderId, after + 1 + i));
    return ids.length === 0 ? 0 : this.blocks.deleteMany({ _id: { $in: ids } });
  }
}

function toDoc({ block, codesThrough }: BlockToStore): BlockDoc {
  const e = "wire" in block ? block : encodeBlock(block);
  return {
    _id: blockId(e.orderId, e.seq),
    orderId: e.orderId,
    seq: e.seq,
    gtin: e.gtin,
    last: e.last,
    count: e.count,
    wire: e.wire,
    ...(codesThrough === undefined ? {} : { codesThrough }),
  };
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
