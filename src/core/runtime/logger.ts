import { type DestinationStream, pino, type Logger } from "pino";
import { currentLogFields } from "./log-context.js";

export type { Logger };

/**
 * JSON logs, one line per event; every line names the role, and a line
 * written while handling a call or background work carries its trace id,
 * request id, order id and step (log-context.ts).
 */
export function createLogger(role: string, level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { role }, mixin: () => currentLogFields() ?? {} };
  // Written synchronously: a line logged just before an exit (or a crash) is out, and lines keep their order.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
