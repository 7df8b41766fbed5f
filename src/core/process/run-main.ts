import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** True when the module at `moduleUrl` is the program node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** What a close may take beyond its grace period (closing connections and the store) before the process gives up on it. */
const CLOSE_MARGIN_MS = 10_000;

interface Running {
  graceMs: number;
  close(): Promise<void>;
}

/**
 * Runs a server role as a program: starts it, prints nothing but its logs,
 * and on SIGINT/SIGTERM shuts it down gracefully (shutdown.ts) and exits 0.
 * The handlers are in place before the start, so a signal that comes just
 * after "listening" (or during the start) still gets a graceful shutdown.
 */
export function runMain(start: () => Promise<Running>): void {
  let running: Running | undefined;
  let stopping = false;
  const shutDownGracefully = (r: Running): void => {
    // A store that no longer answers must not keep a stopping server alive.
    setTimeout(() => process.exit(1), r.graceMs + CLOSE_MARGIN_MS).unref();
    r.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (running !== undefined) shutDownGracefully(running);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // A start that throws at once (bad configuration) is reported like one that fails later.
  Promise.resolve()
    .then(start)
    .then(
      (r) => {
        running = r;
        if (stopping) shutDownGracefully(r);
      },
      (err: unknown) => {
        process.stderr.write(`failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
}
