/**
 * Random serial numbers for OPERATOR products: uniform over the 62
 * alphanumeric characters (a subset of AI-82 that reads unambiguously on
 * any printer), drawn from the OS CSPRNG so serials cannot be predicted.
 */
import { randomBytes } from "node:crypto";

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
  checkArguments(count, length);
  const seen = new Set<string>();
  const serials: string[] = [];
  // Collisions are astronomically rare at 13 characters but certain for
  // short serials, so draw again until the batch is complete.
  while (serials.length < count) {
    const chars = randomAlphabetChars((count - serials.length) * length);
    for (let start = 0; start < chars.length; start += length) {
      const serial = chars.toString("latin1", start, start + length);
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

/** `n` bytes, each the ASCII code of a uniformly drawn alphabet character. */
function randomAlphabetChars(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let filled = 0;
  while (filled < n) {
    // Ask for a little more than needed so one draw nearly always suffices.
    const pool = randomBytes(Math.ceil((n - filled) * 1.05) + 16);
    for (let i = 0; i < pool.length && filled < n; i++) {
      const byte = pool[i];
      if (byte < ACCEPT_BELOW) out[filled++] = ALPHABET_CODES[byte % BASE];
    }
  }
  return out;
}
