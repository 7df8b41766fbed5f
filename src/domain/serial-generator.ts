/**
 * Random serial numbers for OPERATOR products: uniform over the 62
 * alphanumeric characters (a subset of AI-82 that reads unambiguously on
 * any printer), drawn from the OS CSPRNG so serials cannot be predicted,
 * or derived from a secret seed kept with the order (the same ones on every
 * try, as unpredictable to whoever does not hold the seed).
 */
import { createCipheriv, createHmac, randomBytes } from "node:crypto";

export const SERIAL_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const ALPHABET_CODES = Buffer.from(SERIAL_ALPHABET, "latin1");
const BASE = ALPHABET_CODES.length;
// 248 = 4 × 62: bytes at or above it are rejected, so `byte % 62` is exactly
// uniform (no modulo bias); 97 % of bytes are kept.
const ACCEPT_BELOW = 256 - (256 % BASE);

/**
 * `count` distinct serials of `length` characters each. Uniqueness holds
 * within the batch only; the caller checks them against everything emitted
 * before for the GTIN.
 */
export function randomSerials(count: number, length: number): string[] {
  return distinctSerials(count, length, (n) => alphabetChars(n, randomBytes));
}

/** A fresh secret from which an order's serials are derived (derivedSerials). */
export function newSerialSeed(): string {
  return randomBytes(32).toString("base64");
}

/**
 * `count` distinct serials of `length` characters derived from a secret
 * `seed` and a `key` (one block's): the same ones for the same seed and key,
 * wherever and however often they are drawn, and as unpredictable as random
 * ones to whoever does not hold the seed (AES-256-CTR keyed by
 * HMAC-SHA256(seed, key)).
 */
export function derivedSerials(seed: string, key: string, count: number, length: number): string[] {
  const cipher = createCipheriv("aes-256-ctr", createHmac("sha256", seed).update(key).digest(), Buffer.alloc(16));
  return distinctSerials(count, length, (n) => alphabetChars(n, (m) => cipher.update(Buffer.alloc(m))));
}

/** Draws serials from `chars` until `count` distinct ones are found. */
function distinctSerials(count: number, length: number, chars: (n: number) => Buffer): string[] {
  checkArguments(count, length);
  const seen = new Set<string>();
  const serials: string[] = [];
  // Collisions are astronomically rare at 13 characters but certain for
  // short serials, so draw again until the batch is complete.
  while (serials.length < count) {
    // One string of all drawn characters, each serial a slice of it: a native call per serial cost more than the rest of drawing it.
    const drawn = chars((count - serials.length) * length).toString("latin1");
    for (let start = 0; start < drawn.length; start += length) {
      const serial = drawn.slice(start, start + length);
      if (seen.has(serial)) continue;
      seen.add(serial);
      serials.push(serial);
    }
  }
  return serials;
}

function checkArguments(count: number, length: number): void {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`serial count must be a non-negative integer, got ${count}`);
  if (!Number.isSafeInteger(length) || length < 1) throw new RangeError(`serial length must be a positive integer, got ${length}`);
  if (count > BASE ** length) throw new RangeError(`only ${BASE ** length} distinct serials of length ${length} exist, asked for ${count}`);
}

/** `n` bytes, each the ASCII code of a uniformly drawn alphabet character, from the bytes `source` gives. */
function alphabetChars(n: number, source: (n: number) => Buffer): Buffer {
  const out = Buffer.allocUnsafe(n);
  let filled = 0;
  while (filled < n) {
    // Ask for a little more than needed so one draw nearly always suffices.
    const pool = source(Math.ceil((n - filled) * 1.05) + 16);
    for (let i = 0; i < pool.length && filled < n; i++) {
      const byte = pool[i];
      if (byte < ACCEPT_BELOW) out[filled++] = ALPHABET_CODES[byte % BASE];
    }
  }
  return out;
}
