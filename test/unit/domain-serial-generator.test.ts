import { describe, expect, it } from "vitest";
import { isAi82 } from "../../src/domain/ai82.js";
import { derivedSerials, newSerialSeed, SERIAL_ALPHABET, randomSerials } from "../../src/domain/serial-generator.js";

describe("randomSerials", () => {
  it("makes the asked number of serials of the asked length from the 62 alphanumerics", () => {
    const serials = randomSerials(1000, 13);
    expect(serials).toHaveLength(1000);
    expect(serials.every((s) => /^[0-9A-Za-z]{13}$/.test(s))).toBe(true);
    expect(SERIAL_ALPHABET).toHaveLength(62);
    expect(isAi82(SERIAL_ALPHABET)).toBe(true);
  });

  it("makes 150 000 serials, all different", () => {
    const serials = randomSerials(150_000, 13);
    expect(new Set(serials).size).toBe(150_000);
  });

  it("draws again on collisions: all 62 one-character serials come out once each", () => {
    expect(randomSerials(62, 1).sort()).toEqual([...SERIAL_ALPHABET].sort());
  });

  it("uses every character equally often (no modulo bias)", () => {
    const counts = new Map<string, number>();
    for (const serial of randomSerials(40_000, 20)) {
      for (const c of serial) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const expected = (40_000 * 20) / 62;
    const chiSquare = [...SERIAL_ALPHABET].reduce((sum, c) => sum + ((counts.get(c) ?? 0) - expected) ** 2 / expected, 0);
    // 61 degrees of freedom: p = 1e-6 lies near 130, while `byte % 62`
    // without rejection over-draws eight characters by 25 % (χ² in the thousands).
    expect(chiSquare).toBeLessThan(130);
  });

  it("returns nothing when asked for nothing", () => {
    expect(randomSerials(0, 13)).toEqual([]);
  });

  it.each([
    ["a negative count", -1, 13],
    ["a fractional count", 1.5, 13],
    ["a zero length", 1, 0],
    ["more serials than exist", 63, 1],
  ])("refuses %s", (_what, count, length) => {
    expect(() => randomSerials(count, length)).toThrow(RangeError);
  });

  it("derives the same serials from the same seed and key, and others from another seed or key", () => {
    const a = derivedSerials("seed-1", "o/0/0", 1_000, 13);
    expect(a).toHaveLength(1_000);
    expect(new Set(a).size).toBe(1_000);
    expect(a.every((s) => /^[0-9A-Za-z]{13}$/.test(s))).toBe(true);
    expect(derivedSerials("seed-1", "o/0/0", 1_000, 13)).toEqual(a);
    expect(derivedSerials("seed-2", "o/0/0", 10, 13)).not.toEqual(a.slice(0, 10));
    expect(derivedSerials("seed-1", "o/0/1", 10, 13)).not.toEqual(a.slice(0, 10));
    expect(new Set(derivedSerials(newSerialSeed(), "o/0/0", 62, 1)).size).toBe(62);
  });
});
