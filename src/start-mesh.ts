import { type RoleProcess, SERVER_ROLES, startRoleProcess } from "./core/process/index.js";
import { logSink } from "./core/runtime/index.js";

/**
 * `npm start`: the three server roles as three processes on the embedded
 * store, each on its configured address (flags given to `npm start --` reach
 * every role), started bottom-up so each finds the role below it. Their logs
 * go to stdout: readable at a terminal, JSON lines otherwise. Ctrl-C or
 * SIGTERM stops them all, each gracefully (SIGTERM), and this process ends
 * once they have; if one dies, the others stop too.
 */
async function main(): Promise<void> {
  const running: RoleProcess[] = [];
  let stopping = false;
  const onLine = logSink(process.stdout.isTTY === true, (text) => process.stdout.write(text));
  const stopAll = (code: number): void => {
    if (process.exitCode === undefined || code !== 0) process.exitCode = code;
    stopping = true;
    void Promise.all(running.map((r) => r.stop()));
  };
  process.on("SIGINT", () => stopAll(0));
  process.on("SIGTERM", () => stopAll(0));
  // Whoever read the logs went away (`npm start | head`): stop, don't crash and leave the roles running.
  process.stdout.on("error", () => stopAll(0));
  try {
    for (const role of SERVER_ROLES) {
      if (stopping) break;
      const started = await startRoleProcess(role, { env: process.env, onLine, args: process.argv.slice(2) });
      running.push(started);
      started.child.once("exit", (code, signal) => {
        if (signal === null && code !== 0) stopAll(1);
      });
      // A signal that came while this role was starting stops it too, and no role starts after it.
      if (stopping) void started.stop();
    }
  } catch (err) {
    if (stopping) return; // a role interrupted while starting (Ctrl-C reaches it too)
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    stopAll(1);
  }
}

void main();
