import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Pacer } from "../../src/emission-server/pacer.js";

describe("Pacer", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Whether `p` settled without the clock moving or any timer firing. */
  async function settledNow(p: Promise<void>): Promise<boolean> {
    let done = false;
    void p.then(() => {
      done = true;
    });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return done;
  }

  it("lets a block owing less than a timer tick go at once, instead of holding it a whole tick", async () => {
    const pacer = new Pacer(8_000_000);
    // 1 000 codes at 8 M codes/s: 0.125 ms each; seven of them owe 0.875 ms.
    for (let i = 0; i < 7; i++) expect(await settledNow(pacer.pace(1_000))).toBe(true);
  });

  it("sleeps once what is owed adds up to a tick, so the rate holds on average", async () => {
    const pacer = new Pacer(8_000_000);
    for (let i = 0; i < 7; i++) await pacer.pace(1_000);
    const eighth = pacer.pace(1_000);
    expect(await settledNow(eighth)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await eighth;
  });

  it("holds each block its share of time at a slow rate", async () => {
    const pacer = new Pacer(1_000);
    const first = pacer.pace(500);
    expect(await settledNow(first)).toBe(false);
    await vi.advanceTimersByTimeAsync(499);
    expect(await settledNow(first)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await first;
  });
});
