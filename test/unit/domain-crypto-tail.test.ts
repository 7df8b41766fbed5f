import { describe, expect, it } from "vitest";
import { AI82_CHARS } from "../../src/domain/ai82.js";
import { GS, parseCode, type TailLength } from "../../src/domain/code-format.js";
import {
  createKeyRing,
  cryptoTail,
  parseKeyRing,
  randomKeyRing,
  randomSigningKey,
  signCode,
  signCodes,
  verifyCode,
  type KeyRing,
} from "../../src/domain/crypto-tail.js";

const SECRET_1 = Buffer.alloc(32, 1).toString("base64");
const SECRET_2 = Buffer.alloc(32, 2).toString("base64");
const RING = parseKeyRing(`EK01:${SECRET_1},EK02:${SECRET_2}`, "EK01");
const GTIN = "04006381333931";
const SERIAL = "Ab3-Xy9_k%Qz1";

/** Every code that differs from `code` in exactly one character, the new one taken from AI-82. */
function singleCharacterChanges(code: string): string[] {
  const changed: string[] = [];
  for (let i = 0; i < code.length; i++) {
    for (const c of AI82_CHARS) {
      if (c !== code[i]) changed.push(code.slice(0, i) + c + code.slice(i + 1));
    }
  }
  return changed;
}

describe("signCode and verifyCode", () => {
  it.each([44, 88] as const)("signs a code with a %i-character tail that verifies", (tailLength: TailLength) => {
    const code = signCode(RING, GTIN, SERIAL, tailLength);
    const parsed = parseCode(code);
    expect(parsed.ok && parsed.tail.length).toBe(tailLength);
    expect(code.startsWith(`01${GTIN}21${SERIAL}${GS}91EK01${GS}92`)).toBe(true);
    expect(verifyCode(RING, code)).toEqual({ valid: true, reason: "ok", gtin: GTIN, serial: SERIAL, keyId: "EK01" });
  });

  it.each([44, 88] as const)("rejects every single-character change of a code with a %i-character tail", (tailLength: TailLength) => {
    const code = signCode(RING, GTIN, SERIAL, tailLength);
    const changed = singleCharacterChanges(code);
    // The two GS separators are not AI-82 characters, so all 82 replace them.
    expect(changed.length).toBe((code.length - 2) * 81 + 2 * 82);
    expect(changed.filter((c) => verifyCode(RING, c).valid)).toEqual([]);
  });

  it("rejects a code whose key id the ring does not hold", () => {
    const other = parseKeyRing(`ZZ99:${SECRET_1}`);
    const verdict = verifyCode(RING, signCode(other, GTIN, SERIAL, 44));
    expect(verdict).toMatchObject({ valid: false, keyId: "ZZ99", gtin: GTIN, serial: SERIAL });
    expect(verdict.reason).toContain("unknown signing key");
  });

  it("rejects a code signed by another secret under the same key id", () => {
    const impostor = parseKeyRing(`EK01:${Buffer.alloc(32, 9).toString("base64")}`);
    const verdict = verifyCode(RING, signCode(impostor, GTIN, SERIAL, 44));
    expect(verdict.valid).toBe(false);
    expect(verdict.reason).toContain("does not match");
  });

  it("still verifies codes of a retired key after rotation", () => {
    const before = parseKeyRing(`EK01:${SECRET_1}`);
    const rotated = parseKeyRing(`EK01:${SECRET_1},EK02:${SECRET_2}`);
    expect(rotated.activeId).toBe("EK02");
    expect(verifyCode(rotated, signCode(before, GTIN, SERIAL, 88)).valid).toBe(true);
    expect(signCode(rotated, GTIN, SERIAL, 44)).toContain(`${GS}91EK02${GS}`);
  });

  it("reports the format problem of a malformed code", () => {
    expect(verifyCode(RING, "garbage")).toEqual({
      valid: false,
      reason: expect.stringContaining('AI "01"'),
      gtin: "",
      serial: "",
      keyId: "",
    });
  });

  it.each([
    ["an invalid GTIN", "04006381333932", SERIAL],
    ["an empty serial", GTIN, ""],
    ["a 21-character serial", GTIN, "a".repeat(21)],
    ["a serial outside AI-82", GTIN, "abc def"],
  ])("refuses to sign %s", (_what, gtin, serial) => {
    expect(() => signCode(RING, gtin, serial, 44)).toThrow(RangeError);
  });
});

describe("signCodes", () => {
  it.each([44, 88] as const)(
    "signs many serials of one GTIN exactly as signCode signs each (%i-character tail)",
    (tailLength: TailLength) => {
      const serials = [SERIAL, "0000000000001", "z", "A".repeat(20)];
      expect(signCodes(RING, GTIN, serials, tailLength)).toEqual(serials.map((s) => signCode(RING, GTIN, s, tailLength)));
    },
  );

  it("refuses a GTIN or a serial no code may carry, as signCode does", () => {
    expect(() => signCodes(RING, "04006381333932", [SERIAL], 44)).toThrow(RangeError);
    expect(() => signCodes(RING, GTIN, [SERIAL, ""], 44)).toThrow(RangeError);
    expect(() => signCodes(RING, GTIN, [`${SERIAL}${GS}`], 44)).toThrow(RangeError);
    expect(() => signCodes(RING, GTIN, ["A".repeat(21)], 44)).toThrow(RangeError);
  });
});

describe("cryptoTail", () => {
  const key = { id: "EK01", secret: new Uint8Array(32).fill(1) };

  it.each([
    [44, /^[A-Za-z0-9+/]{43}=$/],
    [88, /^[A-Za-z0-9+/]{86}==$/],
  ] as const)("is %i base64 characters", (tailLength, shape) => {
    expect(cryptoTail(key, GTIN, SERIAL, tailLength)).toMatch(shape);
  });

  it("is deterministic and depends on the key id, GTIN and serial", () => {
    const tail = cryptoTail(key, GTIN, SERIAL, 44);
    expect(cryptoTail(key, GTIN, SERIAL, 44)).toBe(tail);
    const variants = [
      cryptoTail({ ...key, id: "EK02" }, GTIN, SERIAL, 44),
      cryptoTail(key, "09506000134352", SERIAL, 44),
      cryptoTail(key, GTIN, `${SERIAL}1`, 44),
    ];
    expect(variants).not.toContain(tail);
  });
});

describe("parseKeyRing", () => {
  it("parses keys, trims blanks and makes the last key active by default", () => {
    const ring = parseKeyRing(` EK01:${SECRET_1} , EK02:${SECRET_2} ,`);
    expect([...ring.keys.keys()]).toEqual(["EK01", "EK02"]);
    expect(ring.activeId).toBe("EK02");
    expect(ring.keys.get("EK01")?.secret).toEqual(new Uint8Array(32).fill(1));
  });

  it("takes the active key id it is given", () => {
    expect(parseKeyRing(`EK01:${SECRET_1},EK02:${SECRET_2}`, "EK01").activeId).toBe("EK01");
  });

  it.each([
    ["an empty spec", "", undefined, "at least one signing key"],
    ["an entry without a colon", `EK01${SECRET_1}`, undefined, "entry 1 must look like"],
    ["a secret that is not base64", `EK01:${SECRET_1},EK02:not base64!`, undefined, 'entry 2 ("EK02"): the secret is not base64'],
    ["a short secret", `EK01:${Buffer.alloc(15).toString("base64")}`, undefined, "at least 16 bytes, got 15"],
    ["a 3-character id", `EK1:${SECRET_1}`, undefined, "4 GS1 AI-82 characters"],
    ["an id outside AI-82", `EK#1:${SECRET_1}`, undefined, "4 GS1 AI-82 characters"],
    ["a repeated id", `EK01:${SECRET_1},EK01:${SECRET_2}`, undefined, "listed twice"],
    ["an unknown active id", `EK01:${SECRET_1}`, "EK09", '"EK09" is not in the ring'],
  ])("refuses %s with a clear error", (_what, spec, active, message) => {
    expect(() => parseKeyRing(spec, active)).toThrow(message);
  });

  it("never puts a secret in an error message", () => {
    const spec = `EK01:${SECRET_1},EK01:${SECRET_2}`;
    expect(() => parseKeyRing(spec)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(SECRET_2) }));
  });
});

describe("randomKeyRing", () => {
  it("makes a one-key ring with a 4-character AI-82 id and a 32-byte secret", () => {
    const ring: KeyRing = randomKeyRing();
    const key = ring.keys.get(ring.activeId);
    expect(ring.keys.size).toBe(1);
    expect(ring.activeId).toMatch(/^[A-Za-z0-9]{4}$/);
    expect(key?.secret.length).toBe(32);
    expect(verifyCode(ring, signCode(ring, GTIN, SERIAL, 44)).valid).toBe(true);
  });

  it("draws a new secret every time", () => {
    const secretOf = (ring: KeyRing): Uint8Array | undefined => ring.keys.get(ring.activeId)?.secret;
    expect(secretOf(randomKeyRing())).not.toEqual(secretOf(randomKeyRing()));
  });
});

describe("randomSigningKey", () => {
  it("never takes an id already in the ring, so a rotation adds a distinct key", () => {
    const taken = new Set(Array.from({ length: 50 }, () => randomSigningKey().id));
    for (let i = 0; i < 50; i++) expect(taken.has(randomSigningKey(taken).id)).toBe(false);
  });
});

describe("createKeyRing", () => {
  it("builds a ring from keys held in memory", () => {
    const ring = createKeyRing([{ id: "HSM1", secret: new Uint8Array(16).fill(7) }]);
    expect(ring.activeId).toBe("HSM1");
    expect(verifyCode(ring, signCode(ring, GTIN, SERIAL, 88)).valid).toBe(true);
  });
});
