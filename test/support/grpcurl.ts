import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const GRPCURL = fileURLToPath(new URL("../../.cache/tools/bin/grpcurl", import.meta.url));

/** Runs the real grpcurl (built by `npm install`) in plaintext mode and returns its stdout. */
export async function grpcurl(...args: string[]): Promise<string> {
  if (!existsSync(GRPCURL)) {
    throw new Error("grpcurl is missing at .cache/tools/bin/grpcurl: run `npm install` (it runs scripts/install-tools.sh)");
  }
  try {
    const { stdout } = await promisify(execFile)(GRPCURL, ["-plaintext", ...args], { timeout: 20_000 });
    return stdout;
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? "";
    throw new Error(`grpcurl ${args.join(" ")} failed: ${String(e)}\n${stderr}`);
  }
}

/**
 * Runs grpcurl expecting the call to fail with a gRPC status: resolves to its
 * stderr (where grpcurl prints the status and its details) and exit code
 * (64 + the status code).
 */
export async function grpcurlFailure(...args: string[]): Promise<{ exitCode: number; stderr: string }> {
  if (!existsSync(GRPCURL)) throw new Error("grpcurl is missing at .cache/tools/bin/grpcurl: run `npm install`");
  try {
    await promisify(execFile)(GRPCURL, ["-plaintext", ...args], { timeout: 20_000 });
  } catch (e) {
    const { code, stderr } = e as { code?: number | string; stderr?: string };
    if (typeof code === "number") return { exitCode: code, stderr: stderr ?? "" };
    throw e;
  }
  throw new Error(`grpcurl ${args.join(" ")} succeeded; a failure was expected`);
}
