/**
 * A worker thread of the Emission server's block maker (block-maker.ts):
 * signs and encodes each block it is sent and sends the block back, its
 * bytes moved to the main thread rather than copied.
 */
import { parentPort } from "node:worker_threads";
import type { EncodedBlock } from "../core/codes/index.js";
import { makeBlock, type PostedBlock, unposted } from "./block-maker.js";

parentPort?.on("message", (b: PostedBlock) => {
  const made = makeBlock(unposted(b));
  // Small blocks may sit in Buffer's shared pool: only a buffer of their own is moved.
  const own = made.wire.byteOffset === 0 && made.wire.byteLength === made.wire.buffer.byteLength;
  const wire = own ? made.wire : new Uint8Array(made.wire);
  const out: EncodedBlock = { ...made, wire };
  parentPort?.postMessage(out, wire.buffer instanceof ArrayBuffer ? [wire.buffer] : []);
});
