import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { JournalEntrySchema, JournalService, type JournalEntry } from "../../gen/emission/journal/v1/journal_pb.js";
import type { Collection, Filter, Store } from "../../store/store.js";
import { callerOf } from "./auth.js";
import { dropOldestBeyond } from "./retention.js";
import { grpcCodeName, toConnectError } from "../rpc/index.js";
import { clip, LogBudget, type Logger, MAX_ID_CHARS, MAX_MESSAGE_CHARS } from "../runtime/index.js";

export interface JournalRecord {
  step: string;
  orderId: string;
  requestId: string;
  participantId: string;
  /** What this role says went wrong. */
  error: unknown;
  /** The original cause, when the error came from the role below. */
  cause?: unknown;
}

interface JournalDoc {
  _id: string;
  time: number;
  role: string;
  step: string;
  orderId: string;
  requestId: string;
  participantId: string;
  code: string;
  message: string;
  cause: string;
}

export interface JournalQuery {
  orderId?: string;
  step?: string;
  participantId?: string;
  pageSize?: number;
  pageToken?: string;
}

const MAX_PAGE = 1000;

/** How long entries are kept, and how many per participant ("" for entries of no participant). */
export interface JournalLimits {
  retentionMs: number;
  maxPerCaller: number;
}

/** Error journal of one role: the "journal the error" steps (4.1, 5.1, 9.1, 13.1, 17.1). */
export class Journal {
  private readonly refusalLines = new LogBudget();
  /** Participants with entries written since the last sweep: only their caps need checking. */
  private written = new Set<string>();

  private constructor(
    private readonly role: string,
    private readonly entries: Collection<JournalDoc>,
    private readonly log: Logger,
    readonly limits: JournalLimits | undefined,
  ) {}

  /** Without limits the journal is kept whole (the line controller's own journal). */
  static async open(store: Store, role: string, log: Logger, limits?: JournalLimits): Promise<Journal> {
    const entries = await store.collection<JournalDoc>("journal", [
      { fields: ["orderId"] },
      { fields: ["participantId"] },
      { fields: ["time"] },
    ]);
    return new Journal(role, entries, log, limits);
  }

  /** Drops entries past their retention, then the oldest of each participant beyond its cap. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.limits === undefined) return 0;
    let dropped = await this.entries.deleteMany({ time: { $lt: now - this.limits.retentionMs } });
    const written = this.written;
    this.written = new Set();
    for (const participantId of written) {
      dropped += await dropOldestBeyond(this.entries, { participantId }, this.limits.maxPerCaller, "_id");
    }
    return dropped;
  }

  async record(r: JournalRecord): Promise<JournalEntry> {
    const err = toConnectError(r.error);
    const time = Date.now();
    const doc: JournalDoc = {
      // Sortable by time, unique across instances sharing one database.
      _id: `${time.toString(36).padStart(9, "0")}-${randomBytes(6).toString("hex")}`,
      time,
      role: this.role,
      step: clip(r.step, MAX_ID_CHARS),
      // Caller strings (a production order id, an x-request-id) are kept only up to their contract's length.
      orderId: clip(r.orderId, MAX_ID_CHARS),
      requestId: clip(r.requestId, MAX_ID_CHARS),
      participantId: clip(r.participantId, MAX_ID_CHARS),
      code: grpcCodeName(err.code),
      message: clip(err.rawMessage, MAX_MESSAGE_CHARS),
      cause: r.cause === undefined ? "" : clip(describeCause(r.cause), MAX_MESSAGE_CHARS),
    };
    await this.entries.insertOne(doc);
    this.written.add(doc.participantId);
    // Refused calls (step auth) come at a caller's will: their log lines are rate-limited.
    const dropped = doc.step === "auth" ? this.refusalLines.take(doc.code) : 0;
    if (dropped === undefined) return toEntry(doc);
    this.log.warn(
      {
        step: doc.step,
        orderId: doc.orderId,
        requestId: doc.requestId,
        code: doc.code,
        cause: doc.cause,
        ...(dropped > 0 ? { similarLinesLeftOut: dropped } : {}),
      },
      doc.message,
    );
    return toEntry(doc);
  }

  async list(q: JournalQuery): Promise<{ entries: JournalEntry[]; nextPageToken: string }> {
    const pageSize = Math.min(q.pageSize === undefined || q.pageSize === 0 ? 100 : q.pageSize, MAX_PAGE);
    const filter: Filter<JournalDoc> = {};
    if (q.orderId) filter.orderId = q.orderId;
    if (q.step) filter.step = q.step;
    if (q.participantId) filter.participantId = q.participantId;
    if (q.pageToken) filter._id = { $lt: q.pageToken };
    const docs = await this.entries.find(filter, { sort: { field: "_id", direction: -1 }, limit: pageSize + 1 });
    const page = docs.slice(0, pageSize);
    const nextPageToken = docs.length > pageSize ? (page[page.length - 1]?._id ?? "") : "";
    return { entries: page.map(toEntry), nextPageToken };
  }
}

function describeCause(cause: unknown): string {
  const err = toConnectError(cause);
  return `${grpcCodeName(err.code)}: ${err.rawMessage}`;
}

function toEntry(d: JournalDoc): JournalEntry {
  return create(JournalEntrySchema, {
    id: d._id,
    time: timestampFromMs(d.time),
    role: d.role,
    step: d.step,
    orderId: d.orderId,
    requestId: d.requestId,
    participantId: d.participantId,
    code: d.code,
    message: d.message,
    cause: d.cause,
  });
}

/** Serves the journal; a participant's token reads only its own entries. */
export function registerJournal(router: ConnectRouter, journal: Journal): void {
  router.service(JournalService, {
    async listJournal(req, ctx) {
      // page_size at most MAX_PAGE and the lengths in journal.proto: held by the contract interceptor.
      const caller = callerOf(ctx);
      return journal.list({
        orderId: req.orderId,
        step: req.step,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        ...(caller.participantId === "" ? {} : { participantId: caller.participantId }),
      });
    },
  });
}
