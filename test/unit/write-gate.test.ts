import { describe, expect, it } from "vitest";
import { WriteGate } from "../../src/store/write-gate.js";

/** A task that runs until released, recording when it started. */
function held(started: string[], name: string): { task: () => Promise<string>; release(): void; fail(): void } {
  let release = (): void => undefined;
  let fail = (): void => undefined;
  const done = new Promise<string>((resolve, reject) => {
    release = () => resolve(name);
    fail = () => reject(new Error(name));
  });
  return {
    task: () => {
      started.push(name);
      return done;
    },
    release: () => release(),
    fail: () => fail(),
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("WriteGate", () => {
  it("runs at most its limit at once and starts the others in the order they came", async () => {
    const gate = new WriteGate(2);
    const started: string[] = [];
    const tasks = ["a", "b", "c", "d"].map((n) => held(started, n));
    const results = tasks.map((t) => gate.run(t.task));
    await settle();
    expect(started).toEqual(["a", "b"]);
    expect([gate.inFlight, gate.queued]).toEqual([2, 2]);
    tasks[1]?.release();
    await settle();
    expect(started).toEqual(["a", "b", "c"]);
    tasks[0]?.release();
    await settle();
    expect(started).toEqual(["a", "b", "c", "d"]);
    tasks[2]?.release();
    tasks[3]?.release();
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d"]);
    expect([gate.inFlight, gate.queued]).toEqual([0, 0]);
  });

  it("passes a failed task's slot on, and the failure to its caller", async () => {
    const gate = new WriteGate(1);
    const started: string[] = [];
    const [a, b] = [held(started, "a"), held(started, "b")];
    const first = gate.run(a.task);
    const second = gate.run(b.task);
    a.fail();
    await expect(first).rejects.toThrow("a");
    await settle();
    expect(started).toEqual(["a", "b"]);
    b.release();
    expect(await second).toBe("b");
    expect(gate.inFlight).toBe(0);
  });
});
