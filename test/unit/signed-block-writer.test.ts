import { describe, expect, it } from "vitest";
import { encodeBlock } from "../../src/core/codes/index.js";
import { parseKeyRing, signCodes } from "../../src/domain/crypto-tail.js";
import { derivedSerials } from "../../src/domain/serial-generator.js";
import { type BlockToSign, writeSignedBlock } from "../../src/emission-server/signed-block-writer.js";

const RING = parseKeyRing(`EK01:${Buffer.alloc(32, 7).toString("base64")}`);
const KEY = RING.keys.get("EK01")!;
const GTIN = "04006381333931";

function block(serials: string[], over: Partial<BlockToSign> = {}): BlockToSign {
  return { orderId: "o-1", seq: 3, blockId: "o-1/3", gtin: GTIN, serials, tailLength: 44, last: false, key: KEY, ...over };
}

/** What the two-pass path makes of the block: codes signed as strings, then encoded. */
function twoPass(b: BlockToSign): ReturnType<typeof encodeBlock> {
  return encodeBlock({
    orderId: b.orderId,
    seq: b.seq,
    blockId: b.blockId,
    gtin: b.gtin,
    codes: signCodes(RING, b.gtin, b.serials, 44),
    last: b.last,
  });
}

describe("writeSignedBlock", () => {
  it("writes byte for byte the block of signCodes' codes, encoded", () => {
    const cases = [
      block(derivedSerials("seed", "o-1/0/2", 1_000, 13)),
      block(["A", "12345678901234567890", "a-b_c%d"], { last: true, seq: 1 }),
      block(derivedSerials("seed", "o-2/0/0", 300, 7), { seq: 200, orderId: "x".repeat(200) }),
      block([], { last: true, seq: 0 }),
    ];
    for (const b of cases) {
      const made = writeSignedBlock(b);
      const expected = twoPass(b);
      expect(Buffer.from(made.wire).equals(Buffer.from(expected.wire))).toBe(true);
      expect({ ...made, wire: undefined }).toEqual({ ...expected, wire: undefined });
    }
  });

  it("refuses what signCodes refuses: an invalid GTIN, an empty, long or non-AI-82 serial", () => {
    expect(() => writeSignedBlock(block(["A1"], { gtin: "04006381333932" }))).toThrow(RangeError);
    for (const serial of ["", "x".repeat(21), "caf\u00e9", "a b"])
      expect(() => writeSignedBlock(block(["A1", serial]))).toThrow(RangeError);
  });
});
