import { describe, expect, it } from "vitest";
import { DocumentLanes } from "../../src/store/document-lanes.js";

/** A task that records when it starts and ends, finishing when `release` is called. */
function task(log: string[], name: string): { run: () => Promise<string>; release: () => void } {
  let release = (): void => undefined;
  const done = new Promise<void>((r) => (release = r));
  return {
    run: async () => {
      log.push(`${name} start`);
      await done;
      log.push(`${name} end`);
      return name;
    },
    release: () => release(),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("DocumentLanes (conditional updates on FerretDB)", () => {
  it("runs the updates of one document one at a time, in order, and those of other documents at once", async () => {
    const lanes = new DocumentLanes();
    const log: string[] = [];
    const a1 = task(log, "a1");
    const a2 = task(log, "a2");
    const b1 = task(log, "b1");
    const results = [lanes.run("a", a1.run), lanes.run("a", a2.run), lanes.run("b", b1.run)];
    await tick();
    expect(log).toEqual(["a1 start", "b1 start"]);
    a1.release();
    await tick();
    expect(log).toContain("a2 start");
    a2.release();
    b1.release();
    expect(await Promise.all(results)).toEqual(["a1", "a2", "b1"]);
    await tick();
    expect(lanes.busy).toBe(0);
  });

  it("runs an update for no one document alone, after those before it and before those after it", async () => {
    const lanes = new DocumentLanes();
    const log: string[] = [];
    const a = task(log, "a");
    const all = task(log, "all");
    const b = task(log, "b");
    const results = [lanes.run("a", a.run), lanes.run(undefined, all.run), lanes.run("b", b.run)];
    await tick();
    expect(log).toEqual(["a start"]);
    a.release();
    await tick();
    expect(log).toEqual(["a start", "a end", "all start"]);
    all.release();
    await tick();
    expect(log.at(-1)).toBe("b start");
    b.release();
    await Promise.all(results);
  });

  it("goes on after a failed update", async () => {
    const lanes = new DocumentLanes();
    await expect(lanes.run("a", () => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    expect(await lanes.run("a", async () => "next")).toBe("next");
  });
});
