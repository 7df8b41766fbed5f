/**
 * GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1):
 * the characters a serial, key id and crypto tail of a marking code may use.
 */

/** Every character of the set, in code-point order. */
export const AI82_CHARS = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

// A table indexed by char code: the set is pure ASCII, so one byte per code
// below 128 answers in a single load, which matters for 1.5 M serials an order.
const TABLE: Uint8Array = buildTable();

function buildTable(): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < AI82_CHARS.length; i++) table[AI82_CHARS.charCodeAt(i)] = 1;
  return table;
}

/** True when the UTF-16 code unit `code` is an AI-82 character. */
export function isAi82Code(code: number): boolean {
  return code < 128 && TABLE[code] === 1;
}

/** True when every character of `s` is in AI-82 (the empty string passes). */
export function isAi82(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (!isAi82Code(s.charCodeAt(i))) return false;
  }
  return true;
}
