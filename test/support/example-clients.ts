import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The clients in other languages, as `npm install` sets them up (scripts/install-examples.sh). */
export type ExampleLanguage = "python" | "go";

const ROOT = new URL("../../", import.meta.url);
const COMMANDS: Record<ExampleLanguage, readonly string[]> = {
  python: [fileURLToPath(new URL(".cache/venv/bin/python", ROOT)), fileURLToPath(new URL("examples/python/client.py", ROOT))],
  go: [fileURLToPath(new URL(".cache/tools/bin/emission-example-go", ROOT))],
};

/** One JSON line an example prints per scenario it ran. */
export type ScenarioResult = Record<string, unknown> & { scenario: string };

/**
 * Runs an example client against an OMS and returns what it printed, by
 * scenario. Flags go before the scenario names (Go's flag package stops at the first).
 */
export async function runExample(
  language: ExampleLanguage,
  o: { oms: string; token: string; flags?: readonly string[]; scenarios: readonly string[] },
): Promise<Map<string, ScenarioResult>> {
  const [command, ...prefix] = COMMANDS[language];
  if (command === undefined || !existsSync(command)) {
    throw new Error(`the ${language} example is not set up (${String(command)}): run \`npm install\` (scripts/install-examples.sh)`);
  }
  const args = [...prefix, "--oms", o.oms, "--token", o.token, ...(o.flags ?? []), ...o.scenarios];
  try {
    const { stdout } = await promisify(execFile)(command, args, { timeout: 45_000, killSignal: "SIGKILL" });
    const lines = stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as ScenarioResult);
    return new Map(lines.map((l) => [l.scenario, l]));
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? "";
    throw new Error(`the ${language} example (${o.scenarios.join(" ")}) failed: ${String(e)}\n${stderr}`);
  }
}
