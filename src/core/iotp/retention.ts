import { Code } from "@connectrpc/connect";
import type { Collection, Doc, Filter } from "../../store/store.js";
import { meshError } from "../rpc/index.js";
import { type Logger, repeatInTurn } from "../runtime/index.js";

/**
 * Everything a caller makes a role keep expires and is capped per caller
 * (issue: nothing a caller sends is kept without bound). Two policies:
 * - oldest dropped: the journal keeps the newest entries of a caller, since
 *   an entry only informs;
 * - new refused (RESOURCE_EXHAUSTED, CALLER_QUOTA): stored replies and
 *   cancel marks carry promises (a retransmission is answered, not redone; a
 *   cancelled request never runs), so dropping one early could make an order
 *   twice or run a cancelled one. The caller learns it was not kept.
 */

/** Deletes the oldest documents matching `filter` beyond the newest `cap`, oldest by `field`. */
export async function dropOldestBeyond<T extends Doc>(
  coll: Collection<T>,
  filter: Filter<T>,
  cap: number,
  field: keyof T & string,
): Promise<number> {
  const n = await coll.count(filter);
  if (n <= cap) return 0;
  const oldest = await coll.find(filter, { sort: { field, direction: 1 }, limit: n - cap });
  const last = oldest[oldest.length - 1];
  if (last === undefined) return 0;
  return coll.deleteMany({ ...filter, [field]: { $lte: last[field] } } as Filter<T>);
}

/** Refuses a new document when the caller already has `cap` documents matching `filter`. */
export async function requireQuota<T extends Doc>(coll: Collection<T>, filter: Filter<T>, cap: number, what: string): Promise<void> {
  const n = await coll.count(filter);
  if (n >= cap) throw quotaError(what, cap);
}

export function quotaError(what: string, cap: number) {
  return meshError(
    `too many ${what} kept for this caller (limit ${cap}); older ones expire, then new ones are taken`,
    Code.ResourceExhausted,
    "CALLER_QUOTA",
  );
}

/** Runs `sweep` every `ms` (unref'd, one at a time) until the returned stop is called; failures are logged, never thrown. */
export function sweepEvery(ms: number, sweep: () => Promise<unknown>, log: Logger, what: string): () => void {
  return repeatInTurn(ms, sweep, (err) => log.warn({ err }, `${what} sweep failed`), { unref: true });
}
