import { CodeFiller, type CodeFillerDeps } from "../codes/index.js";
import type { WorkLease } from "../iotp/index.js";
import type { HopBelow } from "./hop-lifecycle.js";
import type { HopRecordDoc } from "./hop-record.js";
import type { HopRecords } from "./hop-records.js";

/**
 * The hop's records filled from the role below's code stream (step 14.1 at
 * OMS, 10.1 at the Registrar): blocks are stored, then the record advanced.
 */
export function createHopFiller<T extends HopRecordDoc>(
  deps: CodeFillerDeps,
  records: HopRecords<T>,
  below: Pick<HopBelow, "streamCodes">,
  lease: WorkLease<T>,
): CodeFiller {
  return new CodeFiller(deps, {
    open: (orderId, afterBlock, signal) => below.streamCodes(orderId, afterBlock, signal),
    cursor: (orderId) => records.progressOf(orderId),
    advance: (blocks, codesThrough) => records.advanceThrough(blocks, codesThrough),
    fail: (orderId) => records.fail(orderId),
    traceparent: async (orderId) => (await records.get(orderId))?.traceparent,
    filling: () => records.filling(),
    lease,
  });
}
