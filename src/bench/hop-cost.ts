import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeBlock, encodedResponse, readEncodedBlock } from "../core/codes/index.js";
import { GS } from "../domain/code-format.js";
import { CodeBlockSchema } from "../gen/emission/common/v1/order_pb.js";
import { StreamCodesResponseSchema } from "../gen/emission/oms/v1/oms_pb.js";
import { fmt, printTable } from "./bench-table.js";

/**
 * What one hop spends on a 1 000-code block it passes on, in this process:
 * decoding the response and encoding it again (what the relay, and each hop
 * before blocks were kept encoded, does) against reading the block's header
 * and sending its bytes.
 */
export function hopCost(): void {
  const codes = Array.from(
    { length: 1_000 },
    (_, i) => `0104600000000017215${String(i).padStart(12, "0")}${GS}91EK01${GS}92${"x".repeat(44)}`,
  );
  const block = create(CodeBlockSchema, { orderId: "o", seq: 1, blockId: "o/1", gtin: "04600000000017", codes });
  const bytes = toBinary(StreamCodesResponseSchema, create(StreamCodesResponseSchema, { block }));
  const wire = encodeBlock(block).wire;
  const paths: [string, () => void][] = [
    ["decoded and encoded again", () => toBinary(StreamCodesResponseSchema, fromBinary(StreamCodesResponseSchema, bytes))],
    [
      "kept encoded (header read, bytes sent)",
      () => toBinary(StreamCodesResponseSchema, encodedResponse(StreamCodesResponseSchema, readEncodedBlock(wire.slice()))),
    ],
  ];
  const rows = paths.map(([name, pass]) => {
    const n = 1_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) pass();
    const ms = (performance.now() - t0) / n;
    return [name, `${ms.toFixed(3)} ms`, fmt(1_000_000 / ms)];
  });
  printTable(
    `One hop passing on a 1 000-code block (${bytes.length} bytes), in one process:`,
    ["path", "per block", "codes/s per core"],
    rows,
  );
}
