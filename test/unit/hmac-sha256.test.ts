import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HMAC_SHA256_BASE64_LENGTH, hmacSha256Base64 } from "../../src/domain/hmac-sha256.js";

describe("hmacSha256Base64", () => {
  it("writes createHmac's base64 SHA-256 for keys shorter than, as long as and longer than the block, and messages of any length", () => {
    for (const keyBytes of [1, 16, 32, 64, 65, 300]) {
      const secret = new Uint8Array(randomBytes(keyBytes));
      const sign = hmacSha256Base64(secret);
      // Lengths around each padding boundary (55/56 bytes: one or two blocks; 119/120: two or three).
      for (const length of [0, 1, 40, 54, 55, 56, 63, 64, 65, 119, 120, 128, 300]) {
        const message = Buffer.from(randomBytes(length));
        // Inside a larger buffer, at an offset, written into another at an offset: only the given ranges count.
        const input = Buffer.concat([Buffer.from("before"), message, Buffer.from("after")]);
        const out = Buffer.alloc(HMAC_SHA256_BASE64_LENGTH + 4, "-");
        sign(input, 6, 6 + length, out, 2);
        expect(out.toString("latin1")).toBe(`--${createHmac("sha256", secret).update(message).digest("base64")}--`);
      }
    }
  });
});
