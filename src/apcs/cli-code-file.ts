import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { UsageError } from "./cli-errors.js";

/**
 * The --out file: codes appended block by block as they arrive, one per
 * line, the GS separator kept as the raw byte 0x1D that printers expect.
 */
export class CodeFile {
  private written = 0;

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  /** Refuses an existing file: codes are unique and paid for, and overwriting another order's would lose them. */
  static create(path: string): CodeFile {
    try {
      return new CodeFile(path, openSync(path, "wx"));
    } catch (err) {
      throw new UsageError(`cannot create --out file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Synchronous on purpose: the block is in the file before the client
   * acknowledges it to OMS, which then no longer holds it for us.
   */
  write(codes: readonly string[]): void {
    if (codes.length === 0) return;
    const bytes = Buffer.from(`${codes.join("\n")}\n`, "utf8");
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.written += codes.length;
  }

  /** A file that got no codes (the order failed) is removed, so a rerun may use the same --out. */
  close(): void {
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
    if (this.written === 0) unlinkSync(this.path);
  }
}
