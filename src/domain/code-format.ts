/**
 * The marking code as a GS1 element string (the text inside the DataMatrix):
 * 01 GTIN-14 · 21 serial · GS · 91 key id · GS · 92 crypto tail.
 * AIs 01 and 21 lead, and the two variable-length fields after the serial
 * are closed by the GS (FNC1) separator, as GS1 requires.
 */
import { isAi82 } from "./ai82.js";
import { isGtin14Shaped, isValidGtin14 } from "./gtin.js";

/** The GS1 group separator (ASCII 29) that ends a variable-length field. */
export const GS = "\u001d";

/** Crypto tail lengths in use: 44 (most groups) or 88 characters. */
export type TailLength = 44 | 88;

/** Key ids are exactly this many AI-82 characters. */
export const KEY_ID_LENGTH = 4;

/** AI 21 allows 1 to 20 characters. */
export const MAX_SERIAL_LENGTH = 20;

export interface CodeParts {
  gtin: string;
  serial: string;
  keyId: string;
  tail: string;
}

export type ParsedCode = ({ ok: true } & CodeParts) | { ok: false; reason: string };

/**
 * The part of a code the crypto tail signs: everything before "GS 92",
 * so the tail covers the GTIN, the serial, the key id and the separators.
 */
export function signedPart(parts: Omit<CodeParts, "tail">): string {
  return `01${parts.gtin}21${parts.serial}${GS}91${parts.keyId}`;
}

/** The full element string; no checks (signCode only formats what it made). */
export function formatCode(parts: CodeParts): string {
  return `${signedPart(parts)}${GS}92${parts.tail}`;
}

/** One field of the element string, as told to clients (OmsService.ListProductGroups). */
export interface CodeElement {
  ai: string;
  name: string;
  length: number;
  characters: "digits" | "AI-82";
  separatorAfter: boolean;
}

/** The fields of a code, in order, for a group's serial and crypto tail lengths (as formatCode writes them). */
export function codeElements(serialLength: number, tailLength: TailLength): CodeElement[] {
  return [
    { ai: "01", name: "GTIN", length: 14, characters: "digits", separatorAfter: false },
    { ai: "21", name: "serial", length: serialLength, characters: "AI-82", separatorAfter: true },
    { ai: "91", name: "key id", length: KEY_ID_LENGTH, characters: "AI-82", separatorAfter: true },
    { ai: "92", name: "crypto tail", length: tailLength, characters: "AI-82", separatorAfter: false },
  ];
}

/** "01 <GTIN: 14 digits> 21 <serial: 13> <GS> 91 <key id: 4> <GS> 92 <crypto tail: 44>". */
export function codeLayout(elements: readonly CodeElement[]): string {
  return elements
    .map((e) => `${e.ai} <${e.name}: ${e.length}${e.characters === "digits" ? " digits" : ""}>${e.separatorAfter ? " <GS>" : ""}`)
    .join(" ");
}

/** Tells whether `length` is one of the crypto tail lengths. */
export function isTailLength(length: number): length is TailLength {
  return length === 44 || length === 88;
}

/** Splits a code into its fields, or says in words what is wrong with it. */
export function parseCode(code: string): ParsedCode {
  const gtin = code.slice(2, 16);
  const fields = code.slice(18).split(GS);
  const [serial = "", keyField = "", tailField = ""] = fields;
  const reason =
    headProblem(code, gtin) ??
    separatorProblem(fields.length - 1) ??
    serialProblem(serial) ??
    prefixedProblem(keyField, "91", "key id", keyIdLengthProblem) ??
    prefixedProblem(tailField, "92", "crypto tail", tailLengthProblem);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, gtin, serial, keyId: keyField.slice(2), tail: tailField.slice(2) };
}

function headProblem(code: string, gtin: string): string | undefined {
  if (!code.startsWith("01")) return 'a code starts with AI "01" (GTIN)';
  if (!isGtin14Shaped(gtin)) return 'the GTIN after AI "01" must be 14 digits';
  if (!isValidGtin14(gtin)) return `GTIN ${gtin} has a wrong check digit`;
  if (code.slice(16, 18) !== "21") return 'AI "21" (serial) must follow the GTIN';
  return undefined;
}

function separatorProblem(separators: number): string | undefined {
  if (separators === 2) return undefined;
  return `a code has 2 GS separators (after the serial and after the key id), found ${separators}`;
}

function serialProblem(serial: string): string | undefined {
  if (serial.length === 0 || serial.length > MAX_SERIAL_LENGTH) {
    return `the serial must be 1 to ${MAX_SERIAL_LENGTH} characters, got ${serial.length}`;
  }
  return isAi82(serial) ? undefined : "the serial has characters outside GS1 AI-82";
}

/** Checks a GS-delimited field: its AI, then its value's length and characters. */
function prefixedProblem(
  field: string,
  ai: string,
  name: string,
  lengthProblem: (length: number) => string | undefined,
): string | undefined {
  if (!field.startsWith(ai)) return `the ${name} must start with AI "${ai}"`;
  const value = field.slice(ai.length);
  const problem = lengthProblem(value.length);
  if (problem !== undefined) return `the ${name} ${problem}`;
  return isAi82(value) ? undefined : `the ${name} has characters outside GS1 AI-82`;
}

function keyIdLengthProblem(length: number): string | undefined {
  return length === KEY_ID_LENGTH ? undefined : `must be ${KEY_ID_LENGTH} characters, got ${length}`;
}

function tailLengthProblem(length: number): string | undefined {
  return isTailLength(length) ? undefined : `must be 44 or 88 characters, got ${length}`;
}
