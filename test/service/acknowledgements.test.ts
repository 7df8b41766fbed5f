import { afterEach, describe, expect, it } from "vitest";
import { BufferStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { type FaultyTransport, faultyTransport } from "../support/fault-transport.js";
import { type InMemoryMesh, inMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

describe("acknowledgements of the line (APCS library)", () => {
  let mesh: InMemoryMesh | undefined;
  afterEach(async () => {
    await mesh?.close();
  });

  it("acknowledges cumulatively, with far fewer calls than blocks, and through the last block by the time receiving ends", async () => {
    let link: FaultyTransport | undefined;
    mesh = await inMemoryMesh(
      { BLOCK_SIZE: "10", EMISSION_RATE: "1000000", STREAM_RECHECK_MS: "20" },
      { apcsToOms: (t) => (link = faultyTransport(t, {})) },
      { ack: { everyBlocks: 16, everyMs: 60_000 } },
    );
    const order = await mesh.apcs.placeOrder(milkOrder(400));
    const saved = await mesh.apcs.receiveCodes(order.orderId);
    expect(saved.storedBlocks).toBe(40);
    // Blocks 16 and 32 (or later, while one was in flight) and the last: never one call per block.
    expect(link?.stats.calls.AcknowledgeBlocks).toBeGreaterThanOrEqual(1);
    expect(link?.stats.calls.AcknowledgeBlocks).toBeLessThanOrEqual(3);
    const atOms = (await mesh.omsClient().getOrder({ orderId: order.orderId })).order;
    expect([atOms?.deliveredBlocks, atOms?.deliveredCodes, atOms?.bufferStatus]).toEqual([40, 400n, BufferStatus.EXHAUSTED]);
  });
});
