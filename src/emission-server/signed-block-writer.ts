import { type EncodedBlock, writeCodeBlockOf } from "../core/codes/index.js";
import { isAi82 } from "../domain/ai82.js";
import { MAX_SERIAL_LENGTH } from "../domain/code-format.js";
import { HMAC_SHA256_BASE64_LENGTH, hmacSha256Base64 } from "../domain/hmac-sha256.js";
import { isValidGtin14 } from "../domain/gtin.js";
import type { SigningKey } from "../domain/crypto-tail.js";
import type { TailLength } from "../domain/code-format.js";

const GS = 0x1d;

/** What a block to sign holds (block-maker.ts's BlockToMake). */
export interface BlockToSign {
  orderId: string;
  seq: number;
  blockId: string;
  gtin: string;
  serials: readonly string[];
  tailLength: TailLength;
  last: boolean;
  key: SigningKey;
}

/** The ASCII bytes of `s` at `buf[at..]`; its end. Every string written here is checked ASCII (digits, AI-82). */
function ascii(buf: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/**
 * A block of 44-character tails (HMAC-SHA-256) signed and encoded in one
 * pass: each code `01<gtin>21<serial><GS>91<key id><GS>92<tail>` is written
 * straight into the block's buffer and its tail computed from the bytes just
 * written, with no string per code, no copy, and no second encoding pass. The
 * bytes are exactly encodeBlock's of signCodes' codes
 * (test/unit/signed-block-writer.test.ts); the same checks refuse the same
 * GTINs and serials.
 */
export function writeSignedBlock(b: BlockToSign): EncodedBlock {
  if (b.tailLength !== HMAC_SHA256_BASE64_LENGTH) throw new RangeError(`writeSignedBlock signs 44-character tails, not ${b.tailLength}`);
  if (!isValidGtin14(b.gtin)) throw new RangeError(`cannot sign a code for ${JSON.stringify(b.gtin)}: not a valid GTIN-14`);
  if (!isAi82(b.key.id)) throw new RangeError(`signing key id ${JSON.stringify(b.key.id)} is not AI-82`);
  for (const serial of b.serials) {
    if (serial.length === 0 || serial.length > MAX_SERIAL_LENGTH || !isAi82(serial)) {
      throw new RangeError(`cannot sign serial ${JSON.stringify(serial)}: a serial is 1 to ${MAX_SERIAL_LENGTH} AI-82 characters`);
    }
  }
  const tail = hmacSha256Base64(b.key.secret);
  const head = `01${b.gtin}21`;
  // GS 91 <key id> after the serial; GS 92 <tail> after the signed part.
  const signedFixed = head.length + 3 + b.key.id.length;
  const fixed = signedFixed + 3 + HMAC_SHA256_BASE64_LENGTH;
  const wire = writeCodeBlockOf(b, {
    count: b.serials.length,
    length: (i) => fixed + (b.serials[i]?.length ?? 0),
    write(buf, at, i) {
      let p = ascii(buf, at, head);
      p = ascii(buf, p, b.serials[i] ?? "");
      buf[p++] = GS;
      buf[p++] = 0x39; // "9"
      buf[p++] = 0x31; // "1"
      p = ascii(buf, p, b.key.id);
      const signedEnd = p;
      buf[p++] = GS;
      buf[p++] = 0x39; // "9"
      buf[p++] = 0x32; // "2"
      tail(buf, at, signedEnd, buf, p);
    },
  });
  return { orderId: b.orderId, seq: b.seq, gtin: b.gtin, last: b.last, count: b.serials.length, wire };
}
