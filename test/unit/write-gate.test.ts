import { describe, expect, it } from "vitest";
import { URGENT_RUN, WriteGate } from "../../src/store/write-gate.js";

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

  it("starts waiting urgent tasks before ordinary ones that came earlier, in the order they came", async () => {
    const gate = new WriteGate(1);
    const started: string[] = [];
    const [a, b, c, u1, u2] = ["a", "b", "c", "u1", "u2"].map((n) => held(started, n));
    const runs = [gate.run(a.task), gate.run(b.task), gate.run(c.task), gate.run(u1.task, true), gate.run(u2.task, true)];
    for (const t of [a, u1, u2, b, c]) {
      await settle();
      t.release();
    }
    await Promise.all(runs);
    expect(started).toEqual(["a", "u1", "u2", "b", "c"]);
  });

  it("lets an ordinary task through after a run of urgent ones, so a stream of urgent tasks never holds it for good", async () => {
    const gate = new WriteGate(1);
    const started: string[] = [];
    const tasks = new Map<string, ReturnType<typeof held>>();
    const run = (name: string, urgent: boolean): Promise<string> => {
      const t = held(started, name);
      tasks.set(name, t);
      return gate.run(t.task, urgent);
    };
    const runs = [run("first", false), run("ordinary", false)];
    for (let i = 0; i < URGENT_RUN + 2; i++) runs.push(run(`u${i}`, true));
    for (let i = 0; i < runs.length; i++) {
      await settle();
      tasks.get(started.at(-1) ?? "")?.release();
    }
    await Promise.all(runs);
    expect(started.indexOf("ordinary")).toBe(URGENT_RUN + 1);
  });
});
