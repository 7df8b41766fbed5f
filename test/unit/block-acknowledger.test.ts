import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { BlockAcknowledger } from "../../src/apcs/block-acknowledger.js";

const silent = pino({ level: "silent" });

/** A send that records each call and finishes only when the test says so. */
function heldSends() {
  const sent: number[] = [];
  const pending: (() => void)[] = [];
  const send = (through: number) =>
    new Promise<void>((resolve) => {
      sent.push(through);
      pending.push(resolve);
    });
  const finishAll = async () => {
    while (pending.length > 0) {
      pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { sent, send, finishAll };
}

describe("BlockAcknowledger", () => {
  it("acknowledges cumulatively every N blocks, one call in flight at a time, without holding up the blocks", async () => {
    const { sent, send, finishAll } = heldSends();
    const acks = new BlockAcknowledger(send, { everyBlocks: 4, everyMs: 60_000 }, silent);
    for (let seq = 1; seq <= 10; seq++) acks.storedThrough(seq); // none of these waits for an ack
    expect(sent).toEqual([4]); // the first still in flight: later blocks wait for it, not the stream
    await finishAll();
    expect(sent).toEqual([4, 10]);
    await acks.flush();
    expect(sent).toEqual([4, 10]);
  });

  it("sends what is left at flush, and after the time limit when blocks come slowly", async () => {
    const sent: number[] = [];
    const acks = new BlockAcknowledger(async (t) => void sent.push(t), { everyBlocks: 100, everyMs: 10 }, silent);
    acks.storedThrough(1);
    acks.storedThrough(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toEqual([2]);
    acks.storedThrough(3);
    await acks.flush();
    expect(sent).toEqual([2, 3]);
  });

  it("lets a later acknowledgement cover one that failed, and throws if the last one fails", async () => {
    let fail = true;
    const sent: number[] = [];
    const acks = new BlockAcknowledger(
      async (t) => {
        sent.push(t);
        if (fail) throw new Error("OMS unreachable");
      },
      { everyBlocks: 2, everyMs: 60_000 },
      silent,
    );
    acks.storedThrough(2);
    await new Promise((r) => setImmediate(r));
    await expect(acks.flush()).rejects.toThrow("OMS unreachable");
    fail = false;
    acks.storedThrough(3);
    await acks.flush();
    expect(sent).toEqual([2, 2, 3]);
  });

  it("once closed, sends nothing more: an acknowledgement that was in flight and fails is not tried again", async () => {
    const sent: number[] = [];
    let reject: (e: Error) => void = () => undefined;
    const acks = new BlockAcknowledger(
      (t) => {
        sent.push(t);
        return new Promise<void>((_, no) => {
          reject = no;
        });
      },
      { everyBlocks: 1, everyMs: 5 },
      silent,
    );
    acks.storedThrough(1);
    expect(sent).toEqual([1]);
    acks.close(); // the receive was aborted with the acknowledgement in flight
    reject(new Error("order is CANCELLED: blocks can no longer be acknowledged"));
    acks.storedThrough(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toEqual([1]);
  });
});
