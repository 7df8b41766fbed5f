import { afterEach, describe, expect, it } from "vitest";
import { sleep } from "../../src/core/runtime/sleep.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";

describe("expiry of codes of finished orders", () => {
  let mesh: InMemoryMesh;
  afterEach(async () => {
    await mesh.close();
  });

  it("drops a closed order's code blocks at every hop after the retention period, keeping open orders' codes and the serial registry", async () => {
    mesh = await inMemoryMesh({ BLOCK_SIZE: "100", EMISSION_RATE: "1000000", CODE_RETENTION_MS: "50" });
    const closed = await mesh.apcs.placeOrder(milkOrder(300));
    await mesh.apcs.receiveCodes(closed.orderId);
    const open = await mesh.apcs.placeOrder(milkOrder(200));
    await mesh.apcs.receiveCodes(open.orderId);
    const [code] = (await mesh.apcs.fetchBlock(closed.orderId, `${closed.orderId}/1`)).codes;
    expect([await mesh.count("oms", "blocks"), await mesh.count("registrar", "blocks"), await mesh.count("emission", "blocks")]).toEqual([
      5, 5, 5,
    ]);
    await mesh.apcs.closeOrder(closed.orderId);
    await sleep(300);
    expect([await mesh.count("oms", "blocks"), await mesh.count("registrar", "blocks"), await mesh.count("emission", "blocks")]).toEqual([
      2, 2, 2,
    ]);
    expect(await mesh.count("emission", "serials")).toBe(500);
    expect((await mesh.emitterClient.verifyCode({ code: code! })).valid).toBe(true);
  });
});
