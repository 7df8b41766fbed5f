import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs, one line per event; every line names the role. */
export function createLogger(role: string, level: string): Logger {
  return pino({ level, base: { role } });
}
