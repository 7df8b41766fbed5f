/**
 * HMAC-SHA-256 (RFC 2104, FIPS 180-4) of short byte strings under one key,
 * its base64 written straight into an output buffer: for signing a block's
 * codes where they are written (signed-block-writer.ts). The key's inner and
 * outer pad blocks are hashed once, so a code of up to 55 signed bytes costs
 * two compressions and no allocation, where node:crypto's one-shot hash costs
 * two native calls and a Buffer each (about twice as much per code). The
 * output is exactly createHmac's (test/unit/hmac-sha256.test.ts).
 */
import { hash } from "node:crypto";

/** Bytes of SHA-256's block. */
const BLOCK = 64;
/** Characters of the base64 of a SHA-256 digest (32 bytes: 43 and one "="). */
export const HMAC_SHA256_BASE64_LENGTH = 44;

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const BASE64 = Uint8Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", (c) => c.charCodeAt(0));
const PAD = "=".charCodeAt(0);

/** Hashes the block in w[0..15] into `st` (w is the message schedule, overwritten). */
function compress(st: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15] ?? 0;
    const y = w[i - 2] ?? 0;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = ((w[i - 16] ?? 0) + s0 + (w[i - 7] ?? 0) + s1) | 0;
  }
  let a = st[0] ?? 0;
  let b = st[1] ?? 0;
  let c = st[2] ?? 0;
  let d = st[3] ?? 0;
  let e = st[4] ?? 0;
  let f = st[5] ?? 0;
  let g = st[6] ?? 0;
  let h = st[7] ?? 0;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + (K[i] ?? 0) + (w[i] ?? 0)) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  st[0] = (a + (st[0] ?? 0)) | 0;
  st[1] = (b + (st[1] ?? 0)) | 0;
  st[2] = (c + (st[2] ?? 0)) | 0;
  st[3] = (d + (st[3] ?? 0)) | 0;
  st[4] = (e + (st[4] ?? 0)) | 0;
  st[5] = (f + (st[5] ?? 0)) | 0;
  st[6] = (g + (st[6] ?? 0)) | 0;
  st[7] = (h + (st[7] ?? 0)) | 0;
}

/** The state after hashing the key xor `pad` (one block). */
function padState(key: Uint8Array, pad: number, w: Int32Array): Int32Array {
  const st = IV.slice();
  for (let i = 0; i < 16; i++) {
    let word = 0;
    for (let j = 0; j < 4; j++) word = (word << 8) | (((key[i * 4 + j] ?? 0) ^ pad) & 0xff);
    w[i] = word;
  }
  compress(st, w);
  return st;
}

/**
 * A function writing the base64 HMAC-SHA-256 of `msg[start..end)` under
 * `secret` at `out[at..at+44)`; not reentrant (it reuses its buffers).
 */
export function hmacSha256Base64(secret: Uint8Array): (msg: Uint8Array, start: number, end: number, out: Uint8Array, at: number) => void {
  const w = new Int32Array(64);
  // A key longer than the block is hashed first; a shorter one is padded with zeros.
  const key = secret.length > BLOCK ? hash("sha256", secret, "buffer") : secret;
  const inner = padState(key, 0x36, w);
  const outer = padState(key, 0x5c, w);
  const st = new Int32Array(8);
  const digest = new Uint8Array(32);
  return (msg, start, end, out, at) => {
    st.set(inner);
    const len = end - start;
    // The message, 0x80, zeros, and the bit length of pad block and message in the last 8 bytes.
    const blocks = Math.ceil((len + 9) / BLOCK);
    const bits = (BLOCK + len) * 8;
    for (let n = 0; n < blocks; n++) {
      for (let i = 0; i < 16; i++) {
        const p = n * BLOCK + i * 4;
        if (p + 4 <= len) {
          // Whole words of the message: most of them.
          const q = start + p;
          w[i] = ((msg[q] ?? 0) << 24) | ((msg[q + 1] ?? 0) << 16) | ((msg[q + 2] ?? 0) << 8) | (msg[q + 3] ?? 0);
          continue;
        }
        let word = 0;
        for (let j = p; j < p + 4; j++) word = (word << 8) | (j < len ? (msg[start + j] ?? 0) : j === len ? 0x80 : 0);
        w[i] = word;
      }
      if (n === blocks - 1) {
        w[14] = Math.floor(bits / 0x100000000);
        w[15] = bits | 0;
      }
      compress(st, w);
    }
    // The outer hash: its pad block, then the inner digest (32 bytes) padded in one block.
    for (let i = 0; i < 8; i++) w[i] = st[i] ?? 0;
    w[8] = 0x80000000 | 0;
    w.fill(0, 9, 15);
    w[15] = (BLOCK + 32) * 8;
    st.set(outer);
    compress(st, w);
    for (let i = 0; i < 8; i++) {
      const v = st[i] ?? 0;
      digest[i * 4] = v >>> 24;
      digest[i * 4 + 1] = v >>> 16;
      digest[i * 4 + 2] = v >>> 8;
      digest[i * 4 + 3] = v;
    }
    writeBase64(digest, out, at);
  };
}

/** Base64 (with padding) of the 32-byte digest: 44 characters at `out[at..]`. */
function writeBase64(digest: Uint8Array, out: Uint8Array, at: number): void {
  let o = at;
  for (let i = 0; i < 30; i += 3) {
    const n = ((digest[i] ?? 0) << 16) | ((digest[i + 1] ?? 0) << 8) | (digest[i + 2] ?? 0);
    out[o++] = BASE64[n >>> 18] ?? 0;
    out[o++] = BASE64[(n >>> 12) & 63] ?? 0;
    out[o++] = BASE64[(n >>> 6) & 63] ?? 0;
    out[o++] = BASE64[n & 63] ?? 0;
  }
  const n = ((digest[30] ?? 0) << 16) | ((digest[31] ?? 0) << 8);
  out[o++] = BASE64[n >>> 18] ?? 0;
  out[o++] = BASE64[(n >>> 12) & 63] ?? 0;
  out[o++] = BASE64[(n >>> 6) & 63] ?? 0;
  out[o] = PAD;
}
