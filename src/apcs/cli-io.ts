import pc from "picocolors";

/** An output stream of the CLI: process.stdout/stderr, or a capturing stream in tests. */
export type CliStream = NodeJS.WritableStream & { isTTY?: boolean };

/** Everything the CLI touches outside itself, so tests can run it in-process. */
export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: NodeJS.ProcessEnv;
  /** Aborted when the operator interrupts (Ctrl-C). */
  signal?: AbortSignal;
}

export type Colors = ReturnType<typeof pc.createColors>;

/** Colours only on a terminal, and never when NO_COLOR is set (no-color.org). */
export function colorsFor(stream: CliStream, env: NodeJS.ProcessEnv): Colors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== "";
  return pc.createColors(stream.isTTY === true && !noColor);
}

export function writeLine(stream: CliStream, line: string): void {
  stream.write(`${line}\n`);
}

export function writeJson(stream: CliStream, value: unknown): void {
  stream.write(`${JSON.stringify(value)}\n`);
}

/** 2500 → "2,500": fixed locale so output does not depend on the machine. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** "1 block", "3 blocks". */
export function counted(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? "" : "s"}`;
}
