#!/usr/bin/env node
/**
 * The line operator's CLI (АСУТП): places marking-code orders at OMS (СУЗ),
 * receives their codes, and follows, closes and inspects them.
 * `npm run apcs -- <command>`, or the package's `apcs` bin.
 */
import { Command, CommanderError, Option } from "commander";
import { CLIENT_DEFAULTS, tracingSettings } from "../core/config.js";
import { isMain } from "../core/process/index.js";
import { startConfiguredTracing } from "../core/telemetry/index.js";
import { addressArg, parseProduct, positiveInt } from "./cli-args.js";
import { Interrupted, UsageError, failureOf, formatFailure } from "./cli-errors.js";
import { colorsFor, writeJson, writeLine, type CliIo } from "./cli-io.js";
import { CIS_TYPES, GROUPS, RELEASE_METHODS, runOrder, type OrderOptions } from "./cli-order.js";
import { runBlock, runCancel, runClose, runJournal, runStatus, runWatch, type JournalOptions } from "./cli-queries.js";
import type { GlobalOptions } from "./cli-session.js";

export type { CliIo } from "./cli-io.js";

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const DEFAULT_OMS = CLIENT_DEFAULTS.oms;
/** The line token `npm start` accepts (DEV_TOKENS in src/core/config.ts). */
const DEV_TOKEN = "dev-apcs";

/** Runs one command line (without "node cli.js") and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    return report(err, io, argv.includes("--json"));
  }
}

function report(err: unknown, io: CliIo, json: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.ok;
    // commander has already printed the message to stderr.
    if (json) writeJson(io.stdout, { error: { code: "USAGE", message: err.message.replace(/^error: /, ""), step: null, violations: [] } });
    return EXIT.usage;
  }
  if (err instanceof UsageError || err instanceof Interrupted) {
    writeLine(io.stderr, `${err instanceof UsageError ? "error" : "interrupted"}: ${err.message}`);
    const code = err instanceof UsageError ? "USAGE" : "INTERRUPTED";
    if (json) writeJson(io.stdout, { error: { code, message: err.message, step: null, violations: [] } });
    return err instanceof UsageError ? EXIT.usage : EXIT.interrupted;
  }
  const failure = failureOf(err);
  writeLine(io.stderr, formatFailure(failure, colorsFor(io.stderr, io.env)));
  if (json) writeJson(io.stdout, { error: failure });
  return EXIT.failed;
}

function envValue(io: CliIo, name: string): string | undefined {
  const v = io.env[name];
  return v === undefined || v === "" ? undefined : v;
}

function omsDefault(io: CliIo): string {
  const fromEnv = envValue(io, "OMS_ADDR");
  if (fromEnv === undefined) return DEFAULT_OMS;
  try {
    return addressArg(fromEnv);
  } catch (err) {
    throw new UsageError(`OMS_ADDR: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function buildProgram(io: CliIo): Command {
  const program = new Command("apcs")
    .description("Line controller (АСУТП) CLI: place marking-code orders at OMS (СУЗ) and receive their codes.")
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true })
    .addOption(new Option("--oms <host:port>", "OMS address").argParser(addressArg).default(omsDefault(io), `$OMS_ADDR or ${DEFAULT_OMS}`))
    .addOption(
      new Option("--token <token>", "bearer token of this line").default(
        envValue(io, "APCS_TOKEN") ?? DEV_TOKEN,
        `$APCS_TOKEN or ${DEV_TOKEN}`,
      ),
    )
    .addOption(new Option("--timeout <ms>", "deadline of each unary call").argParser(positiveInt).default(CLIENT_DEFAULTS.callTimeoutMs))
    .option("--json", "print exactly one JSON document on stdout (watch: one per line)")
    .option("--verbose", "log to stderr");
  const globals = (): GlobalOptions => {
    const o = program.opts<{ oms: string; token: string; timeout: number; json?: true; verbose?: true }>();
    return { oms: o.oms, token: o.token, timeout: o.timeout, json: o.json === true, verbose: o.verbose === true };
  };
  addOrderCommand(program, io, globals);
  addOrderQueries(program, io, globals);
  program.addHelpText("after", EXAMPLES);
  return program;
}

const EXAMPLES = `
Examples:
  apcs order --group milk --product 04600000000015:2500 --out codes.txt --close
  apcs order --group shoes --product 04600000000022:100 --serials-file serials.txt --no-wait
  apcs status <orderId>
  apcs watch <orderId> --json
  apcs block <orderId> 3 > block-3.txt
  apcs journal --order <orderId>`;

function addOrderCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command("order")
    .description("place an order and receive all its codes")
    .addOption(new Option("--group <name>", "product group").choices([...GROUPS.keys()]).makeOptionMandatory())
    .addOption(
      new Option("--product <gtin:quantity[:template]>", "a product of the order; repeat for each (template: the group's first by default)")
        .argParser(parseProduct)
        .makeOptionMandatory(),
    )
    .option(
      "--serials-file <path>",
      "your serials (SELF_MADE), one per line, handed to the products in order; without it the Emission server makes them (OPERATOR)",
    )
    .addOption(new Option("--cis-type <type>", "kind of item marked").choices([...CIS_TYPES.keys()]).default("unit"))
    .addOption(new Option("--release <method>", "release method").choices([...RELEASE_METHODS.keys()]).default("production"))
    .option("--production-order-id <id>", "your reference for the order (default: po-<time>-<random>)")
    .option("--request-id <id>", "x-request-id of the order; run again with the same id to retry without a second order (default: random)")
    .option("--out <file>", "write every code to this new file, one per line, GS as the byte 0x1D")
    .option("--close", "close the order once all its codes have arrived")
    .addOption(new Option("--no-wait", "return once the order is placed, without receiving its codes").conflicts(["out", "close"]))
    .action(async (_opts: unknown, cmd: Command) => runOrder(cmd.opts<OrderOptions>(), globals(), io));
}

function addOrderQueries(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command("status")
    .description("show an order as OMS has it")
    .argument("<orderId>")
    .action(async (orderId: string) => runStatus(orderId, globals(), io));
  program
    .command("watch")
    .description("follow an order: one line per change, until it is finished")
    .argument("<orderId>")
    .action(async (orderId: string) => runWatch(orderId, globals(), io));
  program
    .command("close")
    .description("close an order (at OMS, the Registrar and the Emission server)")
    .argument("<orderId>")
    .action(async (orderId: string) => runClose(orderId, globals(), io));
  program
    .command("cancel")
    .description("cancel an order in progress: emission stops, undelivered codes are voided")
    .argument("[orderId]", "the order to cancel")
    .option("--request-id <id>", "instead of an order id: the request id of an order placement that got no answer")
    .option("--reason <text>", "why, for the journals", "")
    .action(async (orderId: string | undefined, opts: { requestId?: string; reason: string }) => {
      if ((orderId === undefined) === (opts.requestId === undefined)) throw new UsageError("give an order id or --request-id, not both");
      const target = orderId !== undefined ? { orderId } : { createRequestId: opts.requestId ?? "" };
      return runCancel(target, opts.reason, globals(), io);
    });
  program
    .command("block")
    .description("fetch a block of codes again; prints its codes, one per line")
    .argument("<orderId>")
    .argument("<blockId>", "the block id as delivered (<orderId>/<seq>), or just its seq")
    .action(async (orderId: string, blockId: string) => runBlock(orderId, blockId, globals(), io));
  program
    .command("journal")
    .description("list OMS's error journal, newest first")
    .option("--order <id>", "only entries of this order (or production order id)")
    .option("--step <step>", "only entries of this step, e.g. 13.1")
    .addOption(new Option("--limit <n>", "at most this many entries").argParser(positiveInt).default(100))
    .action(async (_opts: unknown, cmd: Command) => runJournal(cmd.opts<JournalOptions>(), globals(), io));
}

/** As a program: Ctrl-C stops the command cleanly; a second Ctrl-C exits at once. */
async function main(): Promise<void> {
  const abort = new AbortController();
  process.once("SIGINT", () => {
    abort.abort();
    process.once("SIGINT", () => process.exit(EXIT.interrupted));
  });
  // With OTEL_* set, an order's trace starts here, at the line controller.
  const tracing = startConfiguredTracing("apcs", tracingSettings(process.env));
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: abort.signal,
  });
  await tracing?.stop().catch(() => undefined);
  // Exit once stdout has drained, rather than waiting on any handle a library left open.
  process.stdout.write("", () => process.exit(code));
}

if (isMain(import.meta.url)) void main();
