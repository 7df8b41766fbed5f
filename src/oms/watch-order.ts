import { abortedCallError } from "../core/rpc/index.js";
import { LOCAL_RECHECKS } from "../core/codes/index.js";
import { OPEN, type OrderDoc } from "./orders.js";
import type { OrderLifecycleDeps } from "./order-lifecycle.js";

/** What a watch must send at once: the order's state, not its progress. */
function stateOf(order: OrderDoc): string {
  return `${order.status}/${order.bufferStatus}`;
}

/**
 * Process 01.02.00.00 seen from OMS: the order now, then at every change,
 * until it is finished (OK); a deadline or cancel ends it with that status.
 * A change of status is sent at once; a change of progress alone (the code
 * counters, which move with every block stored or acknowledged: hundreds a
 * second while codes flow) at most once every `progressMs`, its latest state,
 * never dropped: the watcher learns where the order stands, not each step.
 */
export async function* watchOrder(
  d: OrderLifecycleDeps,
  orderId: string,
  participantId: string,
  signal: AbortSignal,
): AsyncGenerator<OrderDoc> {
  const progressMs = d.config.oms.watchProgressMs;
  let last = "";
  let lastState = "";
  let sentAt = 0;
  for (;;) {
    if (signal.aborted) throw abortedCallError(signal);
    const order = await d.records.load(orderId, participantId);
    const seen = JSON.stringify(order);
    // Every change made here wakes the watch: a recheck only looks for one made at another instance (a status, not
    // codes: seen within LOCAL_RECHECKS rechecks); an order left open for hours is not read four times a second.
    let waitMs = d.recheckMs * LOCAL_RECHECKS;
    if (seen !== last) {
      const dueIn = sentAt + progressMs - Date.now();
      if (stateOf(order) !== lastState || dueIn <= 0) {
        last = seen;
        lastState = stateOf(order);
        sentAt = Date.now();
        yield order;
      } else waitMs = Math.min(waitMs, dueIn); // progress held back: sent when due, or with a status change before then
    }
    if (!OPEN.includes(order.status)) return;
    await d.notifier.wait(orderId, signal, waitMs);
  }
}
