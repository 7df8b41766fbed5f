import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type Empty, EmptySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { type CodeBlock, CodeBlockSchema } from "../../gen/emission/common/v1/order_pb.js";
import { type CodeBlockFields, writeCodeBlock } from "./code-block-writer.js";

/**
 * A code block as it travels between hops: encoded once where it is made, then
 * stored, received and sent on as these bytes, never rebuilt string by string.
 * `wire` is field 1 (`block`) of every role's StreamCodesResponse, length
 * prefix included, so a response carrying it is byte for byte the one
 * protobuf would write for the decoded block.
 */
export interface EncodedBlock {
  orderId: string;
  seq: number;
  gtin: string;
  last: boolean;
  /** How many codes it holds. */
  count: number;
  wire: Uint8Array;
}

/** The tag byte of a CodeBlock's `codes` (field 5, length-delimited). */
const CODE_TAG = (5 << 3) | WireType.LengthDelimited;

/** Field number of `block` in every StreamCodesResponse (emitter.proto, registrar.proto, oms.proto). */
const BLOCK_FIELD = 1;

/**
 * Encodes a block where it is made (or where a decoded one arrives). Written
 * directly (code-block-writer.ts); a decoded block carrying fields this
 * schema does not know goes through protobuf-es, which keeps them.
 */
export function encodeBlock(block: CodeBlockFields | CodeBlock): EncodedBlock {
  const unknown = "$unknown" in block && block.$unknown !== undefined && block.$unknown.length > 0;
  const wire = unknown ? new BinaryWriter().bytes(toBinary(CodeBlockSchema, block)).finish() : writeCodeBlock(block);
  return { orderId: block.orderId, seq: block.seq, gtin: block.gtin, last: block.last, count: block.codes.length, wire };
}

/** The block itself, for a consumer that reads the codes. */
export function decodeBlock(e: Pick<EncodedBlock, "wire">): CodeBlock {
  return fromBinary(CodeBlockSchema, new BinaryReader(e.wire).bytes());
}

/** What a hop needs of an encoded block, read without decoding its codes. */
export function readEncodedBlock(wire: Uint8Array): EncodedBlock {
  try {
    return readHeader(wire);
  } catch (err) {
    throw new ConnectError(`a code block arrived malformed: ${String(err)}`, Code.DataLoss);
  }
}

function readHeader(wire: Uint8Array): EncodedBlock {
  const r = new BinaryReader(wire);
  const end = r.uint32() + r.pos;
  if (end !== wire.length) throw new Error(`${wire.length} bytes for a block of ${end}`);
  const out: EncodedBlock = { orderId: "", seq: 0, gtin: "", last: false, count: 0, wire };
  // Field numbers of emission.common.v1.CodeBlock (order.proto).
  while (r.pos < end) {
    // A code (field 5, length-delimited: tag byte 0x2a), nearly every field: counted and skipped as skip() would,
    // without tag()'s array and skip()'s view per code.
    if (wire[r.pos] === CODE_TAG) {
      r.pos++;
      const length = r.uint32();
      r.pos += length;
      out.count++;
      continue;
    }
    const [no, type] = r.tag();
    if (no === 1 && type === WireType.LengthDelimited) out.orderId = r.string();
    else if (no === 2 && type === WireType.Varint) out.seq = r.uint32();
    else if (no === 4 && type === WireType.LengthDelimited) out.gtin = r.string();
    else if (no === 6 && type === WireType.Varint) out.last = r.bool();
    else {
      if (no === 5) out.count++;
      r.skip(type, no);
    }
  }
  if (r.pos !== end) throw new Error("the last field runs past the block");
  return out;
}

/** The StreamCodesResponse of `schema` carrying the block as it was encoded: nothing is encoded again. */
export function encodedResponse<T extends DescMessage>(schema: T, block: EncodedBlock): MessageShape<T> {
  const message = create(schema);
  message.$unknown = [{ no: BLOCK_FIELD, wireType: WireType.LengthDelimited, data: block.wire }];
  CODES_IN.set(message, block.count);
  return message;
}

/** How many codes each encoded response carries, read back without parsing its bytes again. */
const CODES_IN = new WeakMap<object, number>();

/** The codes a StreamCodes response carries, whether its block is kept encoded or decoded; 0 for any other message. */
export function codesInResponse(message: unknown): number {
  if (typeof message !== "object" || message === null) return 0;
  const encoded = CODES_IN.get(message);
  if (encoded !== undefined) return encoded;
  if (!("block" in message)) return 0;
  const block: unknown = message.block;
  if (typeof block !== "object" || block === null || !("codes" in block) || !Array.isArray(block.codes)) return 0;
  return block.codes.length;
}

/**
 * The response a StreamCodes handler sends for a stored block: the stored
 * bytes as they are in binary (gRPC, Connect proto); decoded for a JSON
 * client (Connect JSON), which would not see unknown fields.
 */
export function blockResponse<T extends DescMessage>(
  schema: T,
  block: EncodedBlock,
  ctx: HandlerContext,
): MessageShape<T> | { block: CodeBlock } {
  const json = /json/i.test(ctx.requestHeader.get("content-type") ?? "");
  return json ? { block: decodeBlock(block) } : encodedResponse(schema, block);
}

/**
 * A StreamCodes call of the role below that keeps the blocks encoded: each
 * response is read as Empty, so its `block` field stays unknown bytes and the
 * client side of a hop does not decode the codes either.
 */
export function encodedCodeStream<I extends DescMessage>(
  transport: Transport,
  method: DescMethodServerStreaming<I>,
): (request: MessageInitShape<I>, signal: AbortSignal) => AsyncIterable<EncodedBlock> {
  const raw: DescMethodServerStreaming<I, typeof EmptySchema> = { ...method, output: EmptySchema };
  return async function* (request, signal) {
    const res = await transport.stream(raw, signal, undefined, undefined, createAsyncIterable([request]));
    yield* encodedBlocksOf(res.message);
  };
}

/** The encoded blocks of StreamCodes responses read as Empty (see encodedCodeStream). */
async function* encodedBlocksOf(responses: AsyncIterable<Empty>): AsyncIterable<EncodedBlock> {
  for await (const r of responses) {
    const field = r.$unknown?.find((u) => u.no === BLOCK_FIELD && u.wireType === WireType.LengthDelimited);
    if (field === undefined) throw new ConnectError("code stream sent a message without a block", Code.DataLoss);
    // Kept as the view it is, not copied: connect decodes each message into bytes of its own (its
    // envelope decoder allocates one array per message), so the view keeps alive only this response,
    // the block and its few bytes of tag and length.
    yield readEncodedBlock(field.data);
  }
}
