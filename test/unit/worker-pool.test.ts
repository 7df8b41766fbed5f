import { afterEach, describe, expect, it } from "vitest";
import { WorkerPool, WorkerPoolError } from "../../src/core/runtime/index.js";

interface Ask {
  op?: "exit" | "throw" | "hang";
  value: number;
  delayMs?: number;
}

const SCRIPT = new URL("../support/doubling-worker.mjs", import.meta.url);

describe("WorkerPool", () => {
  let pool: WorkerPool<Ask, { doubled: number }> | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("runs more tasks than it has workers, each answered with its own result", async () => {
    pool = new WorkerPool(SCRIPT, 2);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pool?.run({ value: i, delayMs: 5 - (i % 5) })));
    expect(results.map((r) => r?.doubled)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it("fails the task of a worker that dies, replaces the worker and runs the tasks after it", async () => {
    pool = new WorkerPool(SCRIPT, 1);
    const died = pool.run({ op: "exit", value: 1 });
    const after = pool.run({ value: 21 });
    await expect(died).rejects.toThrow(WorkerPoolError);
    expect(await after).toEqual({ doubled: 42 });
    expect(pool.size).toBe(1);
  });

  it("fails a task whose worker throws with the worker's error, and goes on", async () => {
    pool = new WorkerPool(SCRIPT, 1);
    await expect(pool.run({ op: "throw", value: 7 })).rejects.toThrow(/told to throw at 7/);
    expect(await pool.run({ value: 4 })).toEqual({ doubled: 8 });
  });

  it("fails every task running or waiting when it is closed, and any task asked of it after", async () => {
    pool = new WorkerPool(SCRIPT, 1);
    const running = expect(pool.run({ op: "hang", value: 1 })).rejects.toThrow(WorkerPoolError);
    const waiting = expect(pool.run({ value: 2 })).rejects.toThrow(WorkerPoolError);
    await pool.close();
    await running;
    await waiting;
    await expect(pool.run({ value: 3 })).rejects.toThrow(/closed/);
  });

  it("refuses to start without a worker", () => {
    expect(() => new WorkerPool(SCRIPT, 0)).toThrow(RangeError);
  });
});
