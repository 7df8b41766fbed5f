import type { JournalEntry } from "../gen/emission/journal/v1/journal_pb.js";
import { Interrupted } from "./cli-errors.js";
import { colorsFor, count, writeJson, writeLine, type CliIo } from "./cli-io.js";
import { openSession, type GlobalOptions, type Session } from "./cli-session.js";
import { formatJournalEntry, formatOrder, formatWatchLine, journalView, orderView, type OrderView } from "./cli-views.js";

async function withSession<T>(g: GlobalOptions, io: CliIo, work: (s: Session) => Promise<T>): Promise<T> {
  const session = await openSession(g, io);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

function printOrder(v: OrderView, g: GlobalOptions, io: CliIo): void {
  if (g.json) writeJson(io.stdout, v);
  else writeLine(io.stdout, formatOrder(v, colorsFor(io.stdout, io.env)));
}

export function runStatus(orderId: string, g: GlobalOptions, io: CliIo): Promise<void> {
  return withSession(g, io, async (s) => printOrder(orderView(await s.apcs.getOrder(orderId)), g, io));
}

export function runClose(orderId: string, g: GlobalOptions, io: CliIo): Promise<void> {
  return withSession(g, io, async (s) => printOrder(orderView(await s.apcs.closeOrder(orderId)), g, io));
}

/** Cancels an order by its id, or by the request id of an order placement that got no answer. */
export function runCancel(
  target: { orderId: string } | { createRequestId: string },
  reason: string,
  g: GlobalOptions,
  io: CliIo,
): Promise<void> {
  return withSession(g, io, async (s) => {
    const order = await s.apcs.cancelOrder(target, reason);
    if (order !== undefined) printOrder(orderView(order), g, io);
    else if (g.json) writeJson(io.stdout, { cancelled: true, createRequestId: "createRequestId" in target ? target.createRequestId : "" });
    else writeLine(io.stdout, "cancelled before the order was created: it will never be made");
  });
}

/** Process 01.02.00.00 on the screen: a line (or JSON line) per change until the order is finished. */
export function runWatch(orderId: string, g: GlobalOptions, io: CliIo): Promise<void> {
  return withSession(g, io, async (s) => {
    const c = colorsFor(io.stdout, io.env);
    try {
      for await (const order of s.apcs.watch(orderId, io.signal)) {
        const v = orderView(order);
        if (g.json) writeJson(io.stdout, v);
        else writeLine(io.stdout, formatWatchLine(v, c));
      }
    } catch (err) {
      if (io.signal?.aborted === true) throw new Interrupted("watch stopped");
      throw err;
    }
  });
}

/** A bare number is taken as the block's seq within the order. */
export function blockIdOf(orderId: string, block: string): string {
  return /^\d+$/.test(block) ? `${orderId}/${block}` : block;
}

/** Fetches a block again; its codes go to stdout one per line, exactly as --out writes them. */
export function runBlock(orderId: string, block: string, g: GlobalOptions, io: CliIo): Promise<void> {
  return withSession(g, io, async (s) => {
    const b = await s.apcs.fetchBlock(orderId, blockIdOf(orderId, block));
    if (g.json) {
      writeJson(io.stdout, { orderId: b.orderId, seq: b.seq, blockId: b.blockId, gtin: b.gtin, last: b.last, codes: b.codes });
      return;
    }
    writeLine(io.stderr, `block ${b.blockId}: ${count(b.codes.length)} codes of GTIN ${b.gtin}${b.last ? " (last block)" : ""}`);
    if (b.codes.length > 0) io.stdout.write(`${b.codes.join("\n")}\n`);
  });
}

export interface JournalOptions {
  order?: string;
  step?: string;
  limit: number;
}

/** OMS's error journal, newest first, as far as --limit reaches. */
export function runJournal(o: JournalOptions, g: GlobalOptions, io: CliIo): Promise<void> {
  return withSession(g, io, async (s) => {
    const entries = (await readJournal(s, o)).map(journalView);
    if (g.json) {
      writeJson(io.stdout, { entries });
      return;
    }
    const c = colorsFor(io.stdout, io.env);
    for (const e of entries) writeLine(io.stdout, formatJournalEntry(e, c));
    if (entries.length === 0) writeLine(io.stderr, "no journal entries");
  });
}

const MAX_PAGE = 1000;

async function readJournal(s: Session, o: JournalOptions): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  let pageToken = "";
  do {
    const r = await s.journal.listJournal(
      { orderId: o.order ?? "", step: o.step ?? "", pageSize: Math.min(MAX_PAGE, o.limit - entries.length), pageToken },
      { timeoutMs: s.timeoutMs },
    );
    entries.push(...r.entries);
    pageToken = r.nextPageToken;
  } while (pageToken !== "" && entries.length < o.limit);
  return entries;
}
