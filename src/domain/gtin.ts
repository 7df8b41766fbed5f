/**
 * GS1 Global Trade Item Numbers: the standard mod-10 check digit
 * (GS1 General Specifications §7.9.1) and the GTIN-14 form a marking code carries.
 */

const DIGITS = /^\d+$/;
const GTIN14 = /^\d{14}$/;

/**
 * The GS1 mod-10 check digit of a key given without its check digit
 * (7, 11, 12 or 13 digits for GTIN-8/12/13/14; the rule is the same for any length).
 * Weights run 3, 1, 3, … from the rightmost digit, so a GTIN padded with
 * leading zeros keeps its check digit.
 */
export function gtinCheckDigit(digitsWithoutCheck: string): number {
  if (!DIGITS.test(digitsWithoutCheck)) {
    throw new RangeError("a GS1 check digit is computed over a non-empty string of digits");
  }
  let sum = 0;
  let weight = 3;
  for (let i = digitsWithoutCheck.length - 1; i >= 0; i--) {
    sum += (digitsWithoutCheck.charCodeAt(i) - 48) * weight;
    weight = 4 - weight;
  }
  return (10 - (sum % 10)) % 10;
}

/** True when `gtin` is exactly 14 digits whose last digit is the right check digit. */
export function isValidGtin14(gtin: string): boolean {
  return GTIN14.test(gtin) && gtinCheckDigit(gtin.slice(0, 13)) === gtin.charCodeAt(13) - 48;
}

/** True when `gtin` has the GTIN-14 shape (14 digits), whatever its check digit. */
export function isGtin14Shaped(gtin: string): boolean {
  return GTIN14.test(gtin);
}
