import { describe, expect, it } from "vitest";
import { gtinCheckDigit, isGtin14Shaped, isValidGtin14 } from "../../src/domain/gtin.js";

// Published worked examples and well-known real numbers: [number without check digit, check digit, source].
const PUBLISHED: ReadonlyArray<readonly [string, number, string]> = [
  ["629104150021", 3, "GTIN-13, gs1.org 'How to calculate a check digit manually' worked example"],
  ["730001100001", 7, "GTIN-13, GS1 Sweden 'Så beräknas kontrollsiffran' worked example"],
  ["890400021003", 7, "GTIN-13, GS1 India check digit calculation example"],
  ["400638133393", 1, "GTIN-13 4006381333931, a real Stabilo product: the Wikipedia EAN-13 example"],
  ["401234567890", 1, "GTIN-13 4012345678901, EAN-13 worked example in the Tallygenicom 6600 printer manual"],
  ["03600024145", 7, "GTIN-12 036000241457, the UPC-A of a box of tissues from Wikipedia's 'Check digit' article"],
  ["4012346", 2, "GTIN-8 40123462, EAN-8 worked example in the Tallygenicom 6600 printer manual"],
  ["4012345", 5, "GTIN-8 40123455, Softmatic's EAN-8 check digit example"],
  ["0950600013435", 2, "GTIN-14 09506000134352, the example GTIN of the GS1 Digital Link standard"],
  ["0703206980498", 8, "GTIN-14 07032069804988, the GS1 Digital Link example in the biip documentation"],
];

describe("gtinCheckDigit", () => {
  it.each(PUBLISHED)("gives the published check digit for %s (%#)", (digits, check) => {
    expect(gtinCheckDigit(digits)).toBe(check);
  });

  it("gives 0 when the weighted sum is already a multiple of ten", () => {
    // 3·1 + 1·7 = 10.
    expect(gtinCheckDigit("71")).toBe(0);
  });

  it("keeps the check digit of a GTIN padded with leading zeros to 14 digits", () => {
    expect(gtinCheckDigit("00" + "03600024145")).toBe(7);
  });

  it.each(["", "12a4", " 123", "12.3"])("refuses %j, which is not a string of digits", (bad) => {
    expect(() => gtinCheckDigit(bad)).toThrow(RangeError);
  });
});

describe("isValidGtin14", () => {
  it.each(["04006381333931", "09506000134352", "07032069804988", "00036000241457"])("accepts the real GTIN-14 %s", (gtin) => {
    expect(isValidGtin14(gtin)).toBe(true);
  });

  it("rejects every wrong check digit of a real GTIN", () => {
    const wrong = [..."0123456789"].filter((d) => d !== "1").map((d) => `0400638133393${d}`);
    expect(wrong.filter(isValidGtin14)).toEqual([]);
  });

  it.each([
    ["13 digits", "4006381333931"],
    ["15 digits", "004006381333931"],
    ["a letter", "0400638133393A"],
    ["a space", "0400638133393 "],
    ["empty", ""],
  ])("rejects a GTIN with %s", (_what, gtin) => {
    expect(isValidGtin14(gtin)).toBe(false);
  });
});

describe("isGtin14Shaped", () => {
  it("accepts 14 digits whatever the check digit and nothing else", () => {
    expect(isGtin14Shaped("04006381333930")).toBe(true);
    expect(isGtin14Shaped("4006381333931")).toBe(false);
    expect(isGtin14Shaped("0400638133393x")).toBe(false);
  });
});
