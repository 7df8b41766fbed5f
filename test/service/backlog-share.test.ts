import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { reasonOf, stepOf } from "../../src/core/rpc/error-info.js";
import { newRequestId, REQUEST_ID_HEADER } from "../../src/core/rpc/index.js";
import { retryHintOf } from "../../src/core/rpc/retry-hint.js";
import { type InMemoryMesh, inMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { rejection } from "../support/rejection.js";
import { OTHER_PARTICIPANT, PARTICIPANT, TOKENS } from "../support/test-config.js";

describe("bounded emission backlog per participant", () => {
  let mesh: InMemoryMesh | undefined;
  afterEach(async () => {
    await mesh?.close();
  });

  it("refuses a participant's new order beyond its share with FAILED_PRECONDITION and a retry hint, journaled at 5.1, and still takes the others'", async () => {
    mesh = await inMemoryMesh({ EMISSION_RATE: "1000", BACKLOG_FREE_CODES: "1000", MAX_BACKLOG_SHARE: "50" });
    const other = mesh.omsClient(TOKENS.apcsOther);
    const place = (quantity: number) =>
      other.createOrder({ order: milkOrder(quantity) }, { headers: { [REQUEST_ID_HEADER]: newRequestId() } });
    // With nothing waiting, a participant always gets an order in, however large.
    await mesh.apcs.placeOrder(milkOrder(5_000));
    await place(1_000);

    const refused = await rejection(mesh.apcs.placeOrder(milkOrder(1_000)));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(reasonOf(refused)).toBe("BACKLOG_SHARE_EXCEEDED");
    expect(stepOf(refused)).toBe("5");
    expect(retryHintOf(refused)).toBeGreaterThan(0);
    const journaled = (await mesh.journal("emission")).filter((e) => e.step === "5.1");
    expect(journaled.map((e) => e.participantId)).toEqual([PARTICIPANT]);
    expect(await mesh.count("emission", "orders")).toBe(2);

    // The other participant is well within its share.
    expect((await place(100)).order?.participantId).toBe(OTHER_PARTICIPANT);
  });
});
