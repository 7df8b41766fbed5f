import { prettyFactory } from "pino-pretty";

/**
 * Where the JSON log lines of role processes go when one process shows them
 * all (`npm start`): a person at a terminal reads pino's pretty lines;
 * anything else (a pipe, a file, a log collector) gets the JSON lines as the
 * roles wrote them.
 */
export function logSink(tty: boolean, write: (text: string) => void): (line: string) => void {
  if (!tty) return (line) => write(`${line}\n`);
  const pretty = prettyFactory({
    colorize: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,role",
    messageFormat: "{role}: {msg}",
  });
  return (line) => write(line.startsWith("{") ? pretty(line) : `${line}\n`);
}
