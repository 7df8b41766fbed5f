/**
 * Writes a CodeBlock (order.proto) straight into one buffer, byte for byte
 * as protobuf-es's toBinary writes it (fields in number order, proto3
 * defaults left out, every element of `codes` written), with the length
 * prefix of the `block` field in front. protobuf-es encodes each string
 * through TextEncoder into a growing chunk list; a block is ~1 000 short
 * ASCII strings, so sizing it first and writing each string once in place
 * costs several times less.
 */

/** The fields of a CodeBlock as the schema numbers them. */
export interface CodeBlockFields {
  orderId: string;
  seq: number;
  blockId: string;
  gtin: string;
  codes: readonly string[];
  last: boolean;
}

// Tags (field number << 3 | wire type) of emission.common.v1.CodeBlock.
const ORDER_ID = 0x0a;
const SEQ = 0x10;
const BLOCK_ID = 0x1a;
const GTIN = 0x22;
const CODE = 0x2a;
const LAST = 0x30;

/** `block` as the length-prefixed field 1 of a StreamCodesResponse (EncodedBlock.wire). */
export function writeCodeBlock(block: CodeBlockFields): Uint8Array {
  const lengths = block.codes.map((c) => Buffer.byteLength(c, "utf8"));
  return writeCodeBlockOf(block, {
    count: block.codes.length,
    length: (i) => lengths[i] ?? 0,
    write: (buf, at, i) => void buf.write(block.codes[i] ?? "", at, lengths[i] ?? 0, "utf8"),
  });
}

/** The codes of a block as a writer of their bytes writes them, in place: count, byte length of each, and writing one. */
export interface CodeBytes {
  count: number;
  length(i: number): number;
  /** Writes code `i`'s `length(i)` bytes at `buf[at..]`. */
  write(buf: Buffer, at: number, i: number): void;
}

/** writeCodeBlock, with the codes' bytes written by `codes` (e.g. signed as they are written: signed-block-writer.ts). */
export function writeCodeBlockOf(block: Omit<CodeBlockFields, "codes">, codes: CodeBytes): Uint8Array {
  let codeBytes = 0;
  for (let i = 0; i < codes.count; i++) codeBytes += fieldLength(codes.length(i));
  const body = headerLength(block) + codeBytes + (block.last ? 2 : 0);
  const buf = Buffer.allocUnsafe(varintLength(body) + body);
  let at = writeVarint(buf, 0, body);
  at = writeString(buf, at, ORDER_ID, block.orderId, Buffer.byteLength(block.orderId, "utf8"));
  if (block.seq !== 0) {
    buf[at++] = SEQ;
    at = writeVarint(buf, at, block.seq);
  }
  at = writeString(buf, at, BLOCK_ID, block.blockId, Buffer.byteLength(block.blockId, "utf8"));
  at = writeString(buf, at, GTIN, block.gtin, Buffer.byteLength(block.gtin, "utf8"));
  for (let i = 0; i < codes.count; i++) {
    const len = codes.length(i);
    buf[at] = CODE;
    const start = writeVarint(buf, at + 1, len);
    if (len > 0) codes.write(buf, start, i);
    at = start + len;
  }
  if (block.last) {
    buf[at++] = LAST;
    buf[at++] = 1;
  }
  if (at !== buf.length) throw new Error(`code block written as ${at} bytes of ${buf.length}`);
  return buf;
}

function headerLength(block: Omit<CodeBlockFields, "codes">): number {
  let n = 0;
  for (const s of [block.orderId, block.blockId, block.gtin]) if (s !== "") n += fieldLength(Buffer.byteLength(s, "utf8"));
  if (block.seq !== 0) n += 1 + varintLength(block.seq);
  return n;
}

/** Tag, length and bytes of a length-delimited field whose tag fits one byte. */
function fieldLength(len: number): number {
  return 1 + varintLength(len) + len;
}

/** A singular string: left out when empty, as proto3 does. */
function writeString(buf: Buffer, at: number, tag: number, s: string, len: number): number {
  return s === "" ? at : writeField(buf, at, tag, s, len);
}

function writeField(buf: Buffer, at: number, tag: number, s: string, len: number): number {
  buf[at] = tag;
  const start = writeVarint(buf, at + 1, len);
  return start + (len === 0 ? 0 : buf.write(s, start, len, "utf8"));
}

function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) len++;
  return len;
}

/** Unsigned varint (uint32 values and lengths). */
function writeVarint(buf: Buffer, at: number, n: number): number {
  let v = n;
  let i = at;
  while (v >= 0x80) {
    buf[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[i++] = v;
  return i;
}
