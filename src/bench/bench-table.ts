/**
 * Markdown tables of the bench: each measure of the mesh beside the relay's,
 * the ratio, the target for it and whether this run meets it. A
 * missed target is a figure like any other: the bench never fails on one.
 */

/** A target on a value (a ratio, a share, a size): what it says and whether a value meets it. */
export interface Target {
  label: string;
  met(value: number): boolean;
}

export const atLeast = (bound: number, unit = "×"): Target => ({ label: `target ≥ ${bound}${unit}`, met: (v) => v >= bound });
export const atMost = (bound: number, unit = "×"): Target => ({ label: `target ≤ ${bound}${unit}`, met: (v) => v <= bound });

export function verdict(value: number, target: Target | undefined): string {
  if (target === undefined) return "";
  if (!Number.isFinite(value)) return `${target.label}: n/a`;
  return `${target.label}: ${target.met(value) ? "met" : "not met"}`;
}

/** Prints a heading and a markdown table. */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(`\n${title}\n`);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}

/** A number for a table: integers with thousands separators, small values with `digits` decimals. */
export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1_000) return Math.round(value).toLocaleString("en-US").replace(/,/g, " ");
  return value.toFixed(digits);
}

/** One measure, mesh beside relay. */
export interface Comparison {
  measure: string;
  unit: string;
  mesh: number;
  relay: number;
  /** The target on mesh / relay. */
  target?: Target;
}

export const COMPARISON_HEADER = ["measure", "mesh", "relay", "mesh / relay", "target"] as const;

export function comparisonRow(c: Comparison): string[] {
  const ratio = c.mesh / c.relay;
  return [c.measure, `${fmt(c.mesh)} ${c.unit}`, `${fmt(c.relay)} ${c.unit}`, `${fmt(ratio, 2)}×`, verdict(ratio, c.target)];
}

export function printComparisons(title: string, rows: readonly Comparison[]): void {
  printTable(title, COMPARISON_HEADER, rows.map(comparisonRow));
}
