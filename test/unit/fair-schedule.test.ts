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
});
