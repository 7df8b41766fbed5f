import { describe, expect, it } from "vitest";
import { Notifier } from "../../src/core/runtime/notifier.js";

describe("Notifier", () => {
  it("wakes every waiter of a key and leaves none registered", async () => {
    const n = new Notifier();
    const signal = new AbortController().signal;
    const waits = [n.wait("o1", signal, 60_000), n.wait("o1", signal, 60_000)];
    expect(n.size).toBe(2);
    n.notify("o1");
    await Promise.all(waits);
    expect(n.size).toBe(0);
  });

  it("ends a wait on abort or after the re-check interval, without a notify", async () => {
    const n = new Notifier();
    const abort = new AbortController();
    const aborted = n.wait("o", abort.signal, 60_000);
    abort.abort();
    await aborted;
    await n.wait("o", new AbortController().signal, 5);
    expect(n.size).toBe(0);
  });
});
