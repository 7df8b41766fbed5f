/**
 * How codes move: blocks stored once, streamed to the role above from any
 * cursor, pumped from the role below with resume, and expired when done.
 */
export { blocksOf, pumpBlocks } from "./block-pump.js";
export {
  blockResponse,
  codesInResponse,
  decodeBlock,
  type EncodedBlock,
  encodeBlock,
  encodedCodeStream,
  encodedResponse,
  readEncodedBlock,
} from "./encoded-block.js";
export { blockId, BlockStore, type BlockToStore } from "./block-store.js";
export { type CodeBytes, writeCodeBlockOf } from "./code-block-writer.js";
export { type BlockProgress, LOCAL_RECHECKS, streamBlocks } from "./block-stream.js";
export { expireFinishedOrders } from "./code-expiry.js";
export { CodeFiller, type CodeFillerDeps, type FillerTarget, type FreshRecord } from "./code-filler.js";
