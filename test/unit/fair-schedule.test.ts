import { describe, expect, it } from "vitest";
import { FairSchedule } from "../../src/emission-server/fair-schedule.js";

/** Takes and releases `n` turns, one block of `codes` each, returning whose they were. */
function turns(s: FairSchedule, n: number, codes = 10): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = s.take();
    if (id === undefined) break;
    out.push(id);
    s.release(id, codes);
  }
  return out;
}

describe("FairSchedule", () => {
  it("takes one block per participant in turn, then one per order of a participant", () => {
    const s = new FairSchedule(10);
    s.add("a1", "A", 1_000);
    s.add("a2", "A", 1_000);
    s.add("b1", "B", 1_000);
    expect(turns(s, 6)).toEqual(["a1", "b1", "a2", "b1", "a1", "b1"]);
  });

  it("lets a newcomer in after everyone already waiting, and never gives a busy order to a second taker", () => {
    const s = new FairSchedule(10);
    s.add("big", "A", 1_000);
    expect(s.take()).toBe("big");
    s.add("small", "B", 10);
    expect(s.take()).toBe("small");
    expect(s.take()).toBeUndefined(); // both busy
    s.release("big", 10);
    s.remove("small");
    expect(turns(s, 2)).toEqual(["big", "big"]);
  });

  it("estimates a small order behind a big one at about its time alone, whoever placed the big one", () => {
    const s = new FairSchedule(1_000);
    s.add("big", "A", 150_000);
    expect(s.codesUntilDone("B", 100)).toBe(100 + 1_000);
    expect(s.codesUntilDone("A", 100)).toBe(100 + 1_000); // its own orders take turns too
    s.add("mid", "C", 5_000);
    // Five blocks of its own; meanwhile five of A's and all five of C's.
    expect(s.codesUntilDone("D", 5_000)).toBe(5_000 + 5_000 + 5_000);
  });

  it("serves an order interrupted elsewhere only through its own workers, one block at a time", () => {
    const s = new FairSchedule(1_000);
    s.add("a1", "A", 5_000);
    s.add("moved", "B", 5_000, true);
    expect(s.isDue("moved")).toBe(true);
    expect(s.take()).toBe("a1");
    expect(s.take()).toBeUndefined(); // the rotation leaves the interrupted order to its own workers
    expect(s.takeDue()).toBe("moved");
    expect(s.takeDue()).toBeUndefined(); // busy: never two blocks of one order at once
    s.release("moved", 1_000);
    expect(s.takeDue()).toBe("moved");
    s.remove("moved");
    expect(s.isDue("moved")).toBe(false);
  });
});
