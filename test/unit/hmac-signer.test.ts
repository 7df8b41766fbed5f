import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type HmacAlgorithm, hmacSigner } from "../../src/domain/hmac-signer.js";

describe("hmacSigner", () => {
  it.each(["sha256", "sha512"] as const)(
    "gives createHmac's base64 %s for keys shorter than, as long as and longer than the hash block",
    (algorithm: HmacAlgorithm) => {
      for (const keyBytes of [1, 16, 32, 64, 65, 128, 129, 300]) {
        const secret = new Uint8Array(randomBytes(keyBytes));
        const sign = hmacSigner(algorithm, secret);
        for (const message of [
          "",
          "a",
          "0104006381333931215Ab3-Xy9\u001d91EK01",
          "x".repeat(255),
          "y".repeat(256),
          "z".repeat(1_000),
          "short again",
        ]) {
          expect(sign(message)).toBe(createHmac(algorithm, secret).update(message, "latin1").digest("base64"));
        }
      }
    },
  );
});
