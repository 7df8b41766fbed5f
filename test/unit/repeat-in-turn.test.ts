import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { repeatInTurn } from "../../src/core/runtime/index.js";

describe("repeatInTurn", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("skips the ticks that come while the last run is still going", async () => {
    let started = 0;
    let finish: () => void = () => undefined;
    const stop = repeatInTurn(
      100,
      () => {
        started++;
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(1_000); // ten ticks, one run that has not ended
    expect(started).toBe(1);
    finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(started).toBe(2);
    stop();
  });

  it("runs again at the next tick after a failed run, and tells of the failure", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const stop = repeatInTurn(
      100,
      async () => {
        runs++;
        if (runs === 1) throw new Error("store down");
      },
      (err) => errors.push(err),
    );
    await vi.advanceTimersByTimeAsync(300);
    expect(runs).toBe(3);
    expect(errors).toEqual([new Error("store down")]);
    stop();
  });

  it("counts a task that throws before returning a promise as a failed run", async () => {
    const errors: unknown[] = [];
    const stop = repeatInTurn(
      100,
      () => {
        throw new Error("at once");
      },
      (err) => errors.push(err),
    );
    await vi.advanceTimersByTimeAsync(200);
    expect(errors).toHaveLength(2);
    stop();
  });

  it("runs at once when asked, and never after stop", async () => {
    let runs = 0;
    const stop = repeatInTurn(
      100,
      async () => {
        runs++;
      },
      () => undefined,
      { now: true },
    );
    expect(runs).toBe(1);
    stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
  });
});
