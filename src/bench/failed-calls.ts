/**
 * Calls of the chain that failed without stopping a scenario (a CloseOrder
 * after the codes are in, a probe's CreateOrder, an acknowledgement the line
 * gave up on): figures about the chain, printed after the tables, by what
 * failed, with the first message.
 */
export const failedCalls = new Map<string, { count: number; first: string }>();

export function failed(what: string, err: unknown): void {
  const seen = failedCalls.get(what);
  if (seen === undefined) failedCalls.set(what, { count: 1, first: err instanceof Error ? err.message : String(err) });
  else seen.count++;
}

/** A pino destination for the lines' logs: each warning is tallied by its message instead of printed. */
export const tallyingDestination = {
  write(line: string): void {
    const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    failed(`line controller: ${entry.msg ?? "warning"}`, entry.err?.message ?? entry.msg ?? "");
  },
};

export function printFailedCalls(): void {
  for (const [what, { count, first }] of failedCalls) {
    console.log(`\nFailed during the run (not in the figures above): ${what} × ${count}; the first: ${first}`);
  }
}
