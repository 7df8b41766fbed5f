import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

/**
 * `npm start`: the three server roles as three processes on the embedded
 * store, each on its configured address, started bottom-up so each finds the
 * role below it. Their JSON logs go to stdout. Ctrl-C stops them all; if one
 * dies, the others are stopped too.
 */
const ROLES = ["emission-server", "registrar", "oms"] as const;

function startRole(role: string): Promise<ChildProcess> {
  const entry = fileURLToPath(new URL(`./${role}/server.js`, import.meta.url));
  const child = spawn(process.execPath, [entry, ...process.argv.slice(2)], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      process.stdout.write(`${line}\n`);
      if (line.includes('"msg":"listening"')) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`${role} exited with code ${code} before listening`)));
  });
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const stopAll = (code: number): void => {
    for (const c of children) c.kill("SIGTERM");
    process.exitCode = code;
  };
  process.on("SIGINT", () => stopAll(0));
  process.on("SIGTERM", () => stopAll(0));
  try {
    for (const role of ROLES) {
      const child = await startRole(role);
      children.push(child);
      child.once("exit", (code, signal) => {
        if (signal === null && code !== 0) stopAll(1);
      });
    }
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    stopAll(1);
  }
}

void main();
