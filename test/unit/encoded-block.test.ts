import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { BlockStore } from "../../src/core/codes/block-store.js";
import { decodeBlock, encodeBlock, encodedResponse, readEncodedBlock } from "../../src/core/codes/encoded-block.js";
import { CodeBlockSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { StreamCodesResponseSchema as EmitterResponse } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { StreamCodesResponseSchema as OmsResponse } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { StreamCodesResponseSchema as RegistrarResponse } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Filter, Store } from "../../src/store/store.js";
import { onBothStores } from "../support/both-stores.js";
import { forwarding, wrappedStore } from "../support/store-wrappers.js";

const GS = "\u001d";

function block(seq: number, n: number, last = false) {
  const codes = Array.from({ length: n }, (_, i) => `0104600000000017215${String(i).padStart(12, "0")}${GS}91EK01${GS}92${"x".repeat(44)}`);
  return create(CodeBlockSchema, { orderId: "order-1", seq, blockId: `order-1/${seq}`, gtin: "04600000000017", codes, last });
}

describe("encoded code blocks", () => {
  it("go out byte for byte as protobuf writes the decoded block, in every role's StreamCodesResponse", () => {
    const b = block(3, 1_000, true);
    const e = encodeBlock(b);
    for (const schema of [EmitterResponse, RegistrarResponse, OmsResponse]) {
      const expected = toBinary(schema, create(schema, { block: b }));
      expect(Buffer.from(toBinary(schema, encodedResponse(schema, e)))).toEqual(Buffer.from(expected));
      expect(fromBinary(schema, expected).block).toEqual(b);
    }
  });

  it("are written directly byte for byte as protobuf-es writes them, defaults, empty and non-ASCII strings included", () => {
    const variants = [
      block(1, 0),
      block(2 ** 32 - 1, 3, true),
      create(CodeBlockSchema, { orderId: "", seq: 0, blockId: "", gtin: "", codes: ["", "x", ""], last: false }),
      create(CodeBlockSchema, {
        orderId: "заказ-ü",
        seq: 300,
        blockId: "заказ-ü/300",
        gtin: "04600000000017",
        codes: ["é".repeat(200)],
        last: true,
      }),
      block(128, 1_000),
    ];
    for (const b of variants) {
      const expected = new BinaryWriter().bytes(toBinary(CodeBlockSchema, b)).finish();
      expect(Buffer.from(encodeBlock(b).wire)).toEqual(Buffer.from(expected));
      const plain = { orderId: b.orderId, seq: b.seq, blockId: b.blockId, gtin: b.gtin, codes: [...b.codes], last: b.last };
      expect(Buffer.from(encodeBlock(plain).wire)).toEqual(Buffer.from(expected));
    }
  });

  it("keep fields a decoded block carries that the schema does not know", () => {
    const b = block(4, 2);
    b.$unknown = [{ no: 99, wireType: WireType.Varint, data: new Uint8Array([7]) }];
    expect(Buffer.from(encodeBlock(b).wire)).toEqual(Buffer.from(new BinaryWriter().bytes(toBinary(CodeBlockSchema, b)).finish()));
  });

  it("are read for their seq, order, GTIN, end and count without decoding the codes, and decode back to the block", () => {
    const b = block(7, 25);
    const e = readEncodedBlock(encodeBlock(b).wire);
    expect([e.orderId, e.seq, e.gtin, e.last, e.count]).toEqual(["order-1", 7, "04600000000017", false, 25]);
    expect(decodeBlock(e)).toEqual(b);
    expect(() => readEncodedBlock(encodeBlock(b).wire.subarray(0, 100))).toThrow(/malformed/);
    // A code whose length runs past the block's end.
    expect(() => readEncodedBlock(new Uint8Array([4, 0x2a, 5, 0x61, 0x62]))).toThrow(/malformed/);
    expect(() => readEncodedBlock(new Uint8Array([7, 0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61]))).toThrow(/malformed/);
  });
});

describe("BlockStore", () => {
  onBothStores((open) => {
    it("keeps blocks encoded: what it hands out is the bytes it was given, and decodes to the block", async () => {
      const blocks = await BlockStore.open(await open());
      const first = block(1, 10);
      const second = encodeBlock(block(2, 5, true));
      expect(await blocks.put(first)).toBe(true);
      expect(await blocks.put(second)).toBe(true);
      expect(await blocks.put(first)).toBe(false);
      const got = await blocks.range("order-1", 0, 2, 10);
      expect(got.map((b) => [b.seq, b.count, b.last])).toEqual([
        [1, 10, false],
        [2, 5, true],
      ]);
      expect(Buffer.from(got[0]!.wire)).toEqual(Buffer.from(encodeBlock(first).wire));
      expect(Buffer.from(got[1]!.wire)).toEqual(Buffer.from(second.wire));
      expect(await blocks.get("order-1", 1)).toEqual(first);
      expect(await blocks.countCodes("order-1", 0, 2)).toBe(15);
    });

    it("stores several blocks with one write, keeping those already stored, and counts codes from the order's count kept on a block", async () => {
      const blocks = await BlockStore.open(await open());
      expect(await blocks.put(block(1, 10), 10)).toBe(true);
      const stored = await blocks.putMany([
        { block: block(1, 10), codesThrough: 10 },
        { block: encodeBlock(block(2, 5)), codesThrough: 15 },
        { block: block(3, 7, true), codesThrough: 22 },
      ]);
      expect(stored).toBe(2);
      expect((await blocks.range("order-1", 0, 3, 10)).map((b) => b.seq)).toEqual([1, 2, 3]);
      expect(await blocks.codesAfter("order-1", 1, 10, 3)).toBe(12);
      expect(await blocks.codesAfter("order-1", 0, 0, 2)).toBe(15);
      expect(await blocks.codesAfter("order-1", 3, 22, 3)).toBe(0);
    });

    it("counts block by block the codes of blocks stored without the order's count", async () => {
      const blocks = await BlockStore.open(await open());
      await blocks.put(block(1, 10));
      await blocks.put(block(2, 5));
      expect(await blocks.codesAfter("order-1", 0, 0, 2)).toBe(15);
    });

    it("drops the order's blocks after a given one, and no other order's", async () => {
      const blocks = await BlockStore.open(await open());
      for (const seq of [1, 2, 3, 4]) await blocks.put(block(seq, 2));
      await blocks.put(create(CodeBlockSchema, { ...block(3, 2), orderId: "order-2", blockId: "order-2/3" }));
      expect(await blocks.dropAfter("order-1", 2, 5)).toBe(2);
      expect((await blocks.range("order-1", 0, 4, 10)).map((b) => b.seq)).toEqual([1, 2]);
      expect((await blocks.range("order-2", 2, 3, 10)).map((b) => b.seq)).toEqual([3]);
      expect(await blocks.dropAfter("order-1", 2, 2)).toBe(0);
    });
  });

  it("drops blocks by key, never by a filter on another field (FerretDB reads the whole collection for one)", async () => {
    const filters: Filter<{ _id: string }>[] = [];
    const store = wrappedStore(new MemoryStore(), (c) => ({
      ...forwarding(c),
      deleteMany: (filter) => {
        filters.push(filter as Filter<{ _id: string }>);
        return c.deleteMany(filter);
      },
    }));
    const blocks = await BlockStore.open(store);
    await blocks.put(block(1, 2));
    await blocks.dropAfter("order-1", 0, 3);
    expect(filters).toEqual([{ _id: { $in: ["order-1/1", "order-1/2", "order-1/3"] } }]);
  });

  it("keeps blocks under their key alone: storing one maintains no other index", async () => {
    const declared: unknown[] = [];
    const memory = new MemoryStore();
    const store: Store = {
      collection: (name, indexes) => {
        declared.push(...(indexes ?? []));
        return memory.collection(name, indexes);
      },
      close: () => memory.close(),
    };
    await BlockStore.open(store);
    expect(declared).toEqual([]);
  });
});
