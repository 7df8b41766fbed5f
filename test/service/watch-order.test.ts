import { describe, expect, it, vi } from "vitest";
import { BufferStatus, OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import type { Order } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

const stateOf = (o: Order): string => `${OrderStatus[o.status]}/${BufferStatus[o.bufferStatus]}`;

/** Every message a watch of a 5 000-code order (50 blocks) sent while the line received it and closed it. */
async function watchedThroughClose(mesh: InMemoryMesh): Promise<Order[]> {
  const order = await mesh.apcs.placeOrder(milkOrder(5_000));
  const seen: Order[] = [];
  const watching = (async () => {
    for await (const o of mesh.apcs.watch(order.orderId)) seen.push(o);
  })();
  await mesh.apcs.receiveCodes(order.orderId);
  await mesh.apcs.closeOrder(order.orderId);
  await watching;
  return seen;
}

async function withMesh<R>(env: Record<string, string>, run: (mesh: InMemoryMesh) => Promise<R>): Promise<R> {
  const mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000", ...env });
  try {
    return await run(mesh);
  } finally {
    await mesh.close();
  }
}

describe("OMS WatchOrder (01.02.00.00)", () => {
  it("sends every change of status at once and holds back changes of the code counters alone within WATCH_PROGRESS_MS", async () => {
    const seen = await withMesh({ WATCH_PROGRESS_MS: "60000" }, watchedThroughClose);
    // No message only moved the counters: each one says another status than the one before.
    expect(seen.filter((o, i) => i > 0 && stateOf(o) === stateOf(seen[i - 1] as Order)).map(stateOf)).toEqual([]);
    expect(seen.map(stateOf)).toContain("READY/EXHAUSTED");
    const last = seen.at(-1);
    expect(last && stateOf(last)).toBe("CLOSED/CLOSED");
    // The last message still carries the order's final progress.
    expect([last?.deliveredCodes, last?.receivedBlocks, last?.deliveredBlocks]).toEqual([5_000n, 50, 50]);
  });

  it("sends every change when WATCH_PROGRESS_MS is 0, counters included", async () => {
    const seen = await withMesh({ WATCH_PROGRESS_MS: "0" }, watchedThroughClose);
    expect(seen.filter((o, i) => i > 0 && stateOf(o) === stateOf(seen[i - 1] as Order)).length).toBeGreaterThan(0);
  });

  it("sends a held-back change of the counters once it is due, with no change of status to carry it", async () => {
    await withMesh({ WATCH_PROGRESS_MS: "300" }, async (mesh) => {
      const order = await mesh.apcs.placeOrder(milkOrder(5_000));
      let latest: Order | undefined;
      const stop = new AbortController();
      const watching = (async () => {
        for await (const o of mesh.apcs.watch(order.orderId, stop.signal)) latest = o;
      })().catch(() => undefined);
      await mesh.apcs.receiveCodes(order.orderId);
      // The order stays open: the last acknowledgements moved only its counters, which still reach the watcher.
      await vi.waitFor(() => expect(latest?.deliveredCodes).toBe(5_000n), { timeout: 5_000 });
      expect(latest && stateOf(latest)).toBe("READY/EXHAUSTED");
      stop.abort();
      await watching;
    });
  });
});
