/** How much of a caller's string the journal and the logs keep: ids and request ids are at most this long by contract. */
export const MAX_ID_CHARS = 128;

/** How much of an error message the journal and the logs keep. */
export const MAX_MESSAGE_CHARS = 1_024;

/**
 * A caller's string as stored or logged: never longer than `max` characters
 * plus a marker saying how long it was, so nothing a caller sends is kept whole.
 */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[${text.length} chars]`;
}
