import { type Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { grpcCodeName, reasonOf } from "../rpc/index.js";
import { clip, MAX_MESSAGE_CHARS } from "../runtime/index.js";
import { callerKey } from "./auth.js";
import type { JournalRecord } from "./journal.js";

/** What kind of refusal a reason is; the journal step of its aggregate entries. */
export type RefusalKind = "auth" | "malformed" | "overload";

/**
 * The refusals a caller can cause at will, by ErrorInfo reason. They are
 * counted, journaled once per cause per window with their count, and never
 * logged one line each: nothing a refused caller sends is stored.
 */
const KIND_OF_REASON: ReadonlyMap<string, RefusalKind> = new Map([
  ["TOKEN_MISSING", "auth"],
  ["TOKEN_UNKNOWN", "auth"],
  ["ROLE_NOT_ALLOWED", "auth"],
  ["REQUEST_ID_MISSING", "malformed"],
  ["REQUEST_ID_MALFORMED", "malformed"],
  ["OVERLOADED", "overload"],
  ["STREAMS_EXHAUSTED", "overload"],
  ["CALLER_QUOTA", "overload"],
]);

/** The kind of a refusal, or undefined for any other error. */
export function refusalKindOf(e: ConnectError): RefusalKind | undefined {
  return KIND_OF_REASON.get(reasonOf(e) ?? "");
}

/** One cause: a reason, for one participant ("" when the caller is unknown). Totals count since start-up. */
export interface RefusalCount {
  kind: RefusalKind;
  reason: string;
  /** gRPC code name (UNAUTHENTICATED, …). */
  code: string;
  participantId: string;
  total: number;
}

interface Pending {
  count: number;
  code: Code;
  message: string;
}

/** Where aggregate entries go: the role's journal. */
export type RefusalJournal = (record: JournalRecord) => Promise<unknown>;

/**
 * Counts refusals per cause: totals for metrics (snapshot()), and per window
 * for the journal, which gets one entry per cause per window carrying the
 * count (step = the kind; no request id, nothing the caller sent). Causes are
 * a fixed set of reasons × the participants of MESH_TOKENS, so the maps stay small.
 */
export class RefusalTally {
  private readonly totals = new Map<string, RefusalCount>();
  private window = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly journal: RefusalJournal,
    readonly windowMs: number,
  ) {}

  /** Counts `e` if it is a refusal (true), else leaves it (false). */
  count(e: ConnectError, participantId = ""): boolean {
    return this.add(reasonOf(e) ?? "", e.code, e.rawMessage, participantId);
  }

  /** Counts a refusal made without a ConnectError (the stream gate's, before connect runs); false for a reason not tallied. */
  add(reason: string, code: Code, message: string, participantId = ""): boolean {
    const kind = KIND_OF_REASON.get(reason);
    if (kind === undefined) return false;
    const key = `${reason}|${participantId}`;
    const total = this.totals.get(key) ?? { kind, reason, code: grpcCodeName(code), participantId, total: 0 };
    total.total += 1;
    this.totals.set(key, total);
    const pending = this.window.get(key) ?? { count: 0, code, message: clip(message, MAX_MESSAGE_CHARS) };
    pending.count += 1;
    this.window.set(key, pending);
    return true;
  }

  /** Every cause seen since start-up with its total: what a metrics exporter reads. */
  snapshot(): RefusalCount[] {
    return [...this.totals.values()].map((c) => ({ ...c }));
  }

  /** Journals the window's counts, one entry per cause, and starts a new window. */
  async flush(): Promise<void> {
    const window = this.window;
    this.window = new Map();
    const seconds = Math.round(this.windowMs / 100) / 10;
    for (const [key, p] of window) {
      const c = this.totals.get(key);
      if (c === undefined) continue;
      const message = `${p.count} call${p.count === 1 ? "" : "s"} refused (${c.reason}) within ${seconds} s: ${p.message}`;
      await this.journal({
        step: c.kind,
        orderId: "",
        requestId: "",
        participantId: c.participantId,
        error: new ConnectError(message, p.code),
      }).catch(() => undefined);
    }
  }

  /** Flushes every window from now on. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.windowMs);
    this.timer.unref();
  }

  /** Stops the windows, journaling the last one. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/**
 * Counts the refusals the interceptors inside it raise (malformed request
 * ids, overload), for the caller auth resolved. Auth's own refusals are
 * counted by the auth interceptor, which knows the participant of a token
 * refused for its role.
 */
export function refusalInterceptor(tally: RefusalTally): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError && refusalKindOf(err) !== "auth") {
        tally.count(err, req.contextValues.get(callerKey)?.participantId ?? "");
      }
      throw err;
    }
  };
}
