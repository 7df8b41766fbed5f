/**
 * The crypto tail (AI 92) that makes a marking code verifiable: an HMAC by
 * the Emission server's signing key over the code's own text before the
 * tail. Base64 output is used as is: A-Z a-z 0-9 + / = are all in AI-82.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isAi82 } from "./ai82.js";
import { hmacSigner } from "./hmac-signer.js";
import { GS, KEY_ID_LENGTH, MAX_SERIAL_LENGTH, formatCode, parseCode, signedPart, type TailLength } from "./code-format.js";
import { isValidGtin14 } from "./gtin.js";
import { randomSerials } from "./serial-generator.js";

export interface SigningKey {
  /** 4 AI-82 characters, printed in the code after AI 91. */
  readonly id: string;
  readonly secret: Uint8Array;
}

/** The keys codes may be verified with, and the one new codes are signed with. */
export interface KeyRing {
  readonly activeId: string;
  readonly keys: ReadonlyMap<string, SigningKey>;
}

export interface Verification {
  valid: boolean;
  /** Why the code is not valid, or "ok". */
  reason: string;
  /** The code's fields when it could be parsed, else "". */
  gtin: string;
  serial: string;
  keyId: string;
}

// 128 bits is the least an HMAC key should carry; shorter secrets are typos.
const MIN_SECRET_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Builds a ring; the active key defaults to the last one (rotation appends keys). */
export function createKeyRing(keys: readonly SigningKey[], activeId?: string): KeyRing {
  if (keys.length === 0) throw new Error("a key ring needs at least one signing key");
  const byId = new Map<string, SigningKey>();
  for (const key of keys) {
    const problem = keyProblem(key);
    if (problem !== undefined) throw new Error(`signing key ${JSON.stringify(key.id)}: ${problem}`);
    if (byId.has(key.id)) throw new Error(`signing key ${JSON.stringify(key.id)} is listed twice`);
    byId.set(key.id, key);
  }
  const active = activeId ?? keys[keys.length - 1]?.id ?? "";
  if (!byId.has(active)) throw new Error(`the active key id ${JSON.stringify(active)} is not in the ring (${[...byId.keys()].join(", ")})`);
  return { activeId: active, keys: byId };
}

function keyProblem(key: SigningKey): string | undefined {
  if (key.id.length !== KEY_ID_LENGTH || !isAi82(key.id)) return `the id must be ${KEY_ID_LENGTH} GS1 AI-82 characters`;
  if (key.secret.length < MIN_SECRET_BYTES) return `the secret must be at least ${MIN_SECRET_BYTES} bytes, got ${key.secret.length}`;
  return undefined;
}

/**
 * Parses "EK01:base64secret,EK02:base64secret". Errors name the entry and
 * key id but never echo a secret, since they end up in logs.
 */
export function parseKeyRing(spec: string, activeId?: string): KeyRing {
  const entries = spec
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  const keys = entries.map((entry, index) => parseKeyEntry(entry, index + 1));
  return createKeyRing(keys, activeId);
}

function parseKeyEntry(entry: string, position: number): SigningKey {
  const colon = entry.indexOf(":");
  if (colon < 0) throw new Error(`signing key entry ${position} must look like "<4-char id>:<base64 secret>"`);
  const id = entry.slice(0, colon);
  const encoded = entry.slice(colon + 1);
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) {
    throw new Error(`signing key entry ${position} (${JSON.stringify(id)}): the secret is not base64`);
  }
  return { id, secret: new Uint8Array(Buffer.from(encoded, "base64")) };
}

/** A one-key ring with a random id and 32-byte secret: for development only, dies with the process. */
export function randomKeyRing(): KeyRing {
  return createKeyRing([randomSigningKey()]);
}

/** A new key with a random id (none of `takenIds`) and a random 32-byte secret. */
export function randomSigningKey(takenIds: ReadonlySet<string> = new Set()): SigningKey {
  for (;;) {
    const [id = ""] = randomSerials(1, KEY_ID_LENGTH);
    if (id !== "" && !takenIds.has(id)) return { id, secret: new Uint8Array(randomBytes(32)) };
  }
}

/**
 * Base64 HMAC-SHA256 (44 characters) or HMAC-SHA512 (88 characters) over
 * "01 gtin 21 serial GS 91 keyId", so any change before the tail breaks it.
 */
export function cryptoTail(key: SigningKey, gtin: string, serial: string, tailLength: TailLength): string {
  const algorithm = tailLength === 44 ? "sha256" : "sha512";
  return createHmac(algorithm, key.secret)
    .update(signedPart({ gtin, serial, keyId: key.id }), "latin1")
    .digest("base64");
}

/** A complete code signed with the ring's active key. Throws on a GTIN or serial no code may carry. */
export function signCode(ring: KeyRing, gtin: string, serial: string, tailLength: TailLength): string {
  if (!isValidGtin14(gtin)) throw new RangeError(`cannot sign a code for ${JSON.stringify(gtin)}: not a valid GTIN-14`);
  if (serial.length === 0 || serial.length > MAX_SERIAL_LENGTH || !isAi82(serial)) {
    throw new RangeError(`cannot sign serial ${JSON.stringify(serial)}: a serial is 1 to ${MAX_SERIAL_LENGTH} AI-82 characters`);
  }
  const key = activeKey(ring);
  return formatCode({ gtin, serial, keyId: key.id, tail: cryptoTail(key, gtin, serial, tailLength) });
}

/**
 * signCode for many serials of one GTIN: the GTIN and key are checked and
 * looked up once, not once a code (a block is ~1 000 codes).
 */
export function signCodes(ring: KeyRing, gtin: string, serials: readonly string[], tailLength: TailLength): string[] {
  if (!isValidGtin14(gtin)) throw new RangeError(`cannot sign a code for ${JSON.stringify(gtin)}: not a valid GTIN-14`);
  const key = activeKey(ring);
  const tail = hmacSigner(tailLength === 44 ? "sha256" : "sha512", key.secret);
  const head = `01${gtin}21`;
  const keyPart = `${GS}91${key.id}`;
  return serials.map((serial) => {
    if (serial.length === 0 || serial.length > MAX_SERIAL_LENGTH || !isAi82(serial)) {
      throw new RangeError(`cannot sign serial ${JSON.stringify(serial)}: a serial is 1 to ${MAX_SERIAL_LENGTH} AI-82 characters`);
    }
    // signedPart and formatCode, written out: the same text, one concatenation less per code.
    const signed = head + serial + keyPart;
    return `${signed}${GS}92${tail(signed)}`;
  });
}

/** The key new codes are signed with. */
export function activeKey(ring: KeyRing): SigningKey {
  const key = ring.keys.get(ring.activeId);
  if (key === undefined) throw new Error(`the active key ${JSON.stringify(ring.activeId)} is not in the ring`);
  return key;
}

/**
 * Checks a code's format and tail. The tails are compared as text, not as
 * decoded bytes: base64's last character carries spare bits, and a changed
 * spare bit must still fail.
 */
export function verifyCode(ring: KeyRing, code: string): Verification {
  const parsed = parseCode(code);
  if (!parsed.ok) return { valid: false, reason: parsed.reason, gtin: "", serial: "", keyId: "" };
  const { gtin, serial, keyId, tail } = parsed;
  const fields = { gtin, serial, keyId };
  const key = ring.keys.get(keyId);
  if (key === undefined) return { valid: false, reason: `unknown signing key id ${JSON.stringify(keyId)}`, ...fields };
  const expected = Buffer.from(cryptoTail(key, gtin, serial, tail.length === 44 ? 44 : 88), "latin1");
  const valid = timingSafeEqual(expected, Buffer.from(tail, "latin1"));
  return { valid, reason: valid ? "ok" : "the crypto tail does not match: the code was altered or forged", ...fields };
}
