import type { CallOptions } from "@connectrpc/connect";
import { OrderStateError } from "../../domain/domain-errors.js";
import { type BlockProgress, type BlockStore, type CodeFiller, type EncodedBlock, streamBlocks } from "../codes/index.js";
import { type DownstreamOutbox, type Journal, retransmitUntil } from "../iotp/index.js";
import { deriveRequestId, REQUEST_ID_HEADER, toConnectError } from "../rpc/index.js";
import type { Notifier } from "../runtime/index.js";
import type { EndKind, HopRecordDoc } from "./hop-record.js";
import type { HopRecords } from "./hop-records.js";

/** The role below as a hop uses it: its code stream, and where a close or cancel goes. */
export interface HopBelow {
  /** The calls' names, for logs: "ClosePool" and "CancelPool" below OMS. */
  names: Record<EndKind, string>;
  streamCodes(orderId: string, afterBlock: number, signal: AbortSignal): AsyncIterable<EncodedBlock>;
  close(orderId: string, options: CallOptions): Promise<unknown>;
  cancel(orderId: string, deliveredThroughBlock: number, options: CallOptions): Promise<unknown>;
}

/** What a forwarding hop works with. */
export interface HopDeps<T extends HopRecordDoc> {
  /** The role's name: scopes the request ids it sends down. */
  role: string;
  records: HopRecords<T>;
  blocks: BlockStore;
  below: HopBelow;
  filler: CodeFiller;
  notifier: Notifier;
  journal: Journal;
  outbox: DownstreamOutbox;
  recheckMs: number;
}

/**
 * Ends the record here (its status guard refuses what may no longer end),
 * stops filling it, voids on a cancel the blocks after the last one the line
 * took, then sends the end below. Ending twice the same way is harmless.
 */
export async function endHopRecord<T extends HopRecordDoc>(
  d: HopDeps<T>,
  id: string,
  kind: EndKind,
  pendingRequestId: string,
  extra: Partial<T> = {},
): Promise<T> {
  const now = await d.records.end(id, kind, pendingRequestId, extra);
  await d.filler.stop(id);
  // Acknowledgements stop with the status change, so the delivered cursor is final: what lies beyond is void.
  if (kind === "cancel") await d.blocks.dropAfter(id, d.records.spec.deliveredThrough(now), now.totalBlocks);
  d.notifier.notify(id);
  if (now.pending !== undefined) await sendDown(d, now);
  return (await d.records.get(id)) ?? now;
}

/** Sends a pending close or cancel to the role below (also after a restart), through the outbox. */
export async function sendDown<T extends HopRecordDoc>(d: HopDeps<T>, record: T): Promise<void> {
  const { _id: orderId, pending } = record;
  const headers = { [REQUEST_ID_HEADER]: record.pendingRequestId ?? deriveRequestId(`${pending}:${orderId}`, d.role) };
  const clear = (): Promise<void> => d.records.clearPending(orderId, pending);
  await d.outbox.deliver({
    key: `${pending}:${orderId}`,
    what: d.below.names[pending ?? "close"],
    send: (until) =>
      pending === "cancel"
        ? d.below.cancel(orderId, d.records.spec.deliveredThrough(record), { headers, contextValues: retransmitUntil(until) })
        : d.below.close(orderId, { headers, contextValues: retransmitUntil(until) }),
    delivered: clear,
    refused: async (err) => {
      await d.journal.record({
        step: pending ?? "",
        orderId,
        requestId: headers[REQUEST_ID_HEADER],
        participantId: record.participantId,
        error: err,
        cause: err,
      });
      await clear();
    },
  });
}

/** After a restart: closes and cancels the role below has not confirmed go out again. */
export async function resendPendingEnds<T extends HopRecordDoc>(d: HopDeps<T>): Promise<void> {
  for (const record of await d.records.withPendingEnd()) void sendDown(d, record);
}

/**
 * The record's codes to the role above, from a cursor, as they arrive from
 * below; the stream ends with the record's state once it is no longer open.
 */
export async function* streamHopBlocks<T extends HopRecordDoc>(
  d: HopDeps<T>,
  req: { orderId: string; afterBlock: number },
  participantId: string,
  signal: AbortSignal,
): AsyncGenerator<EncodedBlock> {
  await d.records.load(req.orderId, participantId);
  const progress = async (orderId: string): Promise<BlockProgress> => {
    const r = await d.records.load(orderId, participantId);
    const stored = { stored: d.records.storedBlocks(r), total: r.totalBlocks };
    if (d.records.isOpen(r)) return stored;
    const ended = new OrderStateError(r._id, d.records.spec.statusName(r.status), "no more codes will come");
    return { ...stored, ended: toConnectError(ended) };
  };
  const storedHere = (orderId: string): boolean => d.filler.fillsHere(orderId);
  yield* streamBlocks(
    { blocks: d.blocks, notifier: d.notifier, progress, recheckMs: d.recheckMs, storedHere },
    req.orderId,
    req.afterBlock,
    signal,
  );
}
