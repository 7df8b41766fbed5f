import { describe, expect, it } from "vitest";
import { AI82_CHARS, isAi82 } from "../../src/domain/ai82.js";
import { GS, formatCode, parseCode, type CodeParts } from "../../src/domain/code-format.js";

const PARTS: CodeParts = {
  gtin: "04006381333931",
  serial: "AbC123-_%&'()",
  keyId: "EK01",
  tail: `${"A".repeat(43)}=`,
};
const CODE = formatCode(PARTS);

describe("AI-82 character set", () => {
  it("has exactly the 82 characters of GS1 figure 7.11-1", () => {
    expect(AI82_CHARS.length).toBe(82);
    expect(new Set(AI82_CHARS).size).toBe(82);
  });

  it("accepts exactly the set's characters among all of ASCII", () => {
    const ascii = Array.from({ length: 128 }, (_, code) => String.fromCharCode(code));
    expect(ascii.filter((c) => isAi82(c)).join("")).toBe(AI82_CHARS);
  });

  it.each([" ", "#", "$", "@", "[", "\\", "]", "^", "`", "{", "|", "}", "~", GS, "é", "Ж", "😀"])("rejects %j", (c) => {
    expect(isAi82(`ab${c}cd`)).toBe(false);
  });

  it("accepts the empty string and base64 text", () => {
    expect(isAi82("")).toBe(true);
    expect(isAi82("q83vEjRWeJq8/+0=")).toBe(true);
  });
});

describe("formatCode", () => {
  it("lays out 01 GTIN 21 serial GS 91 key GS 92 tail", () => {
    expect(GS).toBe("\u001d");
    expect(CODE).toBe(`010400638133393121AbC123-_%&'()\u001d91EK01\u001d92${PARTS.tail}`);
  });
});

describe("parseCode", () => {
  it("returns the fields of a well-formed code", () => {
    expect(parseCode(CODE)).toEqual({ ok: true, ...PARTS });
  });

  it("accepts an 88-character tail and a 7-character tobacco serial", () => {
    const parts = { ...PARTS, serial: "abc-123", tail: `${"b".repeat(86)}==` };
    expect(parseCode(formatCode(parts))).toEqual({ ok: true, ...parts });
  });

  it.each([
    ["wrong prefix", `02${CODE.slice(2)}`, 'starts with AI "01"'],
    ["a GTIN with a letter", CODE.replace("04006381333931", "0400638133393X"), "14 digits"],
    ["a code cut inside the GTIN", CODE.slice(0, 12), "14 digits"],
    ["a wrong GTIN check digit", CODE.replace("04006381333931", "04006381333932"), "check digit"],
    ["no AI 21 after the GTIN", CODE.replace("393121", "393122"), 'AI "21"'],
    ["a missing GS", CODE.replace(`${GS}91`, "91"), "found 1"],
    ["an extra GS", CODE + GS, "found 3"],
    ["an empty serial", formatCode({ ...PARTS, serial: "" }), "1 to 20 characters, got 0"],
    ["a 21-character serial", formatCode({ ...PARTS, serial: "s".repeat(21) }), "got 21"],
    ["a serial outside AI-82", formatCode({ ...PARTS, serial: "abc#def" }), "serial has characters outside"],
    ["no AI 91", CODE.replace(`${GS}91`, `${GS}90`), 'key id must start with AI "91"'],
    ["a 3-character key id", formatCode({ ...PARTS, keyId: "EK1" }), "key id must be 4 characters, got 3"],
    ["a 5-character key id", formatCode({ ...PARTS, keyId: "EK001" }), "got 5"],
    ["a key id outside AI-82", formatCode({ ...PARTS, keyId: "EK 1" }), "key id has characters outside"],
    ["no AI 92", CODE.replace(`${GS}92`, `${GS}93`), 'crypto tail must start with AI "92"'],
    ["a 43-character tail", formatCode({ ...PARTS, tail: "A".repeat(43) }), "44 or 88 characters, got 43"],
    ["an 87-character tail", formatCode({ ...PARTS, tail: "A".repeat(87) }), "got 87"],
    ["a tail outside AI-82", formatCode({ ...PARTS, tail: `${"A".repeat(43)}~` }), "crypto tail has characters outside"],
    ["an empty string", "", 'starts with AI "01"'],
  ])("rejects %s with a reason", (_what, code, reason) => {
    const parsed = parseCode(code);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });
});
