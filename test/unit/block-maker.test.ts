import { describe, expect, it } from "vitest";
import { decodeBlock } from "../../src/core/codes/index.js";
import { GS } from "../../src/domain/code-format.js";
import { parseKeyRing, signCodes } from "../../src/domain/crypto-tail.js";
import {
  type BlockMaker,
  type BlockToMake,
  bySize,
  IN_THREAD_BELOW,
  inThreadBlockMaker,
  makeBlock,
  posted,
  unposted,
} from "../../src/emission-server/block-maker.js";

const RING = parseKeyRing(`EK01:${Buffer.alloc(32, 1).toString("base64")}`);
const KEY = RING.keys.get("EK01")!;

function toMake(serials: string[]): BlockToMake {
  return { orderId: "o-1", seq: 2, blockId: "o-1/2", gtin: "04006381333931", serials, tailLength: 44, last: true, key: KEY };
}

describe("makeBlock", () => {
  it("signs the serials with the key it is given and encodes the block", async () => {
    const b = toMake(["A1", "B2", "C3"]);
    const made = await inThreadBlockMaker.make(b);
    expect([made.orderId, made.seq, made.gtin, made.last, made.count]).toEqual(["o-1", 2, "04006381333931", true, 3]);
    expect(decodeBlock(made).codes).toEqual(signCodes(RING, b.gtin, b.serials, 44));
    expect(decodeBlock(made).blockId).toBe("o-1/2");
  });
});

describe("posting a block to a worker", () => {
  it("carries its serials as one string and back, none and one empty included", () => {
    for (const serials of [[], [""], ["A"], ["A1", "B2", "C3"]]) expect(unposted(posted(toMake(serials))).serials).toEqual(serials);
  });

  it("refuses a serial holding GS instead of splitting it into two", () => {
    expect(() => unposted(posted(toMake([`A${GS}B`])))).toThrow(RangeError);
  });

  it("makes the same block from what arrives as from what was posted", () => {
    const b = toMake(["X9", "Y8"]);
    expect(Buffer.from(makeBlock(unposted(posted(b))).wire)).toEqual(Buffer.from(makeBlock(b).wire));
  });
});

describe("bySize", () => {
  /** A maker that only notes the sizes it was asked for. */
  function noting(sizes: number[]): BlockMaker {
    return {
      make: async (b) => {
        sizes.push(b.serials.length);
        return makeBlock(b);
      },
      close: async () => undefined,
    };
  }

  it("makes blocks under IN_THREAD_BELOW codes with the small maker and the others with the large one", async () => {
    const [small, large]: number[][] = [[], []];
    const maker = bySize(noting(small), noting(large));
    const serials = (n: number): string[] => Array.from({ length: n }, (_, i) => `S${i}`);
    for (const n of [1, IN_THREAD_BELOW - 1, IN_THREAD_BELOW, 1000]) await maker.make(toMake(serials(n)));
    expect({ small, large }).toEqual({ small: [1, IN_THREAD_BELOW - 1], large: [IN_THREAD_BELOW, 1000] });
  });

  it("closes both makers", async () => {
    const closed: string[] = [];
    const maker = bySize(
      { make: inThreadBlockMaker.make, close: async () => void closed.push("small") },
      { make: inThreadBlockMaker.make, close: async () => void closed.push("large") },
    );
    await maker.close();
    expect(closed.sort()).toEqual(["large", "small"]);
  });
});
