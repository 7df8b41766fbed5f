import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextKey, type Interceptor, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { abortedCallError, errorInfo, REQUEST_ID_HEADER, toConnectError, TRANSIENT_CODES, transientError } from "../rpc/index.js";
import { callerKey } from "./auth.js";
import { type Notifier, repeatInTurn } from "../runtime/index.js";
import type { ReplyDoc, ReplyStore } from "./reply-store.js";

/**
 * When the request was first claimed, for the handler: identifiers derived
 * from (request id, since) come out the same when a retry takes over the
 * request after a crash, and new once the stored reply was forgotten.
 */
export const requestSinceKey = createContextKey<number>(0, { description: "first claim of the request" });

/** The key of the request's stored-reply claim, for a handler whose half-done work a sweep may have to undo (it takes the claim first). */
export const requestClaimKey = createContextKey<string>("", { description: "stored-reply key of the request" });

/**
 * Metadata saying a reply is a stored one, not new work: always in the
 * trailing metadata (where a gRPC client finds it for errors and successes
 * alike, Trailers-Only included), and in the leading metadata of a success.
 */
export const REPLAY_HEADER = "x-idempotent-replay";

export interface IdempotencyOptions {
  replies: ReplyStore;
  services: readonly DescService[];
  notifier: Notifier;
  /** How long a duplicate waits for the original before it is told to retry. */
  maxWaitMs: number;
  /** The retry hint given with "being processed". */
  retryHintMs: number;
  /** Told of each duplicate answered from its stored reply (or error), and of each request id reused for another payload. */
  seen?: (method: string, outcome: "reply" | "error" | "mismatch") => void;
}

/**
 * IOTP §4.5.2 for every server role: a state-changing call with a request id
 * already seen from the same caller for the same method gets the stored
 * reply and does nothing again; the same id with another payload is refused;
 * a duplicate of a call still running waits for its outcome, or is told it is
 * being processed. Success and failure are stored alike, transient errors not.
 */
export function idempotencyInterceptor(o: IdempotencyOptions): Interceptor {
  const own = new Set(o.services.map((s) => s.typeName));
  return (next) => async (req) => {
    if (req.stream || !own.has(req.service.typeName) || req.method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) {
      return next(req);
    }
    const key = replyKey(req);
    const digest = createHash("sha256").update(toBinary(req.method.input, req.message)).digest("base64");
    const until = Date.now() + o.maxWaitMs;
    for (;;) {
      const claim = await o.replies.claim(key, digest, Date.now(), callerName(req));
      switch (claim.kind) {
        case "new":
          req.contextValues.set(requestSinceKey, claim.since);
          req.contextValues.set(requestClaimKey, key);
          return runOnce(o, key, claim.since, req, async () => {
            const res = await next(req);
            if (res.stream) throw new ConnectError("a unary call answered with a stream", Code.Internal);
            return res;
          });
        case "done":
          return replayed(o, req, claim.doc);
        case "mismatch":
          o.seen?.(req.method.name, "mismatch");
          throw reused(req);
        case "running": {
          const doc = await awaitOriginal(o, key, req.signal, until);
          if (doc !== "orphaned") return replayed(o, req, doc);
          // The original's instance died while we waited: claim again, and take it over.
        }
      }
    }
  };
}

/** The caller as its stored replies are counted: "<role>:<participant>", "" for none. */
function callerName(req: UnaryRequest): string {
  const caller = req.contextValues.get(callerKey);
  return caller === undefined ? "" : `${caller.role}:${caller.participantId}`;
}

function replyKey(req: UnaryRequest): string {
  const who = callerName(req) || "anonymous";
  return `${who}|${req.service.typeName}/${req.method.name}|${req.header.get(REQUEST_ID_HEADER) ?? ""}`;
}

async function runOnce(
  o: IdempotencyOptions,
  key: string,
  since: number,
  req: UnaryRequest,
  work: () => Promise<UnaryResponse>,
): Promise<UnaryResponse> {
  // One renewal at a time: on a slow store they would pile up.
  const stopRenewing = repeatInTurn(
    Math.max(1_000, o.replies.leaseMs / 3),
    () => o.replies.renew(key),
    () => undefined,
  );
  let res: UnaryResponse;
  try {
    res = await work();
  } catch (err) {
    const e = toConnectError(err);
    try {
      if (TRANSIENT_CODES.has(e.code)) await o.replies.release(key);
      else await o.replies.complete(key, { error: storedError(e) }, since);
    } finally {
      stopRenewing();
      o.notifier.notify(key);
    }
    throw e;
  }
  // The reply goes out while its outcome is stored: the work is done and durable, and a run
  // whose outcome never lands (a crash, a failed write) is already what every handler must
  // bear, a claim left running that a retransmission takes over, with the same `since`, to
  // run again and find its own records. Duplicates waiting meanwhile are told once it is stored.
  stopRenewing();
  o.replies.completeInBackground(key, { response: Buffer.from(toBinary(req.method.output, res.message)).toString("base64") }, since, () =>
    o.notifier.notify(key),
  );
  return res;
}

/**
 * RFC 2801 §4.5.2.2: the duplicate waits for the original within its own
 * deadline, or until the original's instance is found dead ("orphaned"), so
 * a retransmission after a crash takes the call over in seconds.
 */
async function awaitOriginal(o: IdempotencyOptions, key: string, signal: AbortSignal, until: number): Promise<ReplyDoc | "orphaned"> {
  while (!signal.aborted && Date.now() < until) {
    await o.notifier.wait(key, signal, Math.min(250, Math.max(1, until - Date.now())));
    const doc = await o.replies.get(key);
    if (doc === undefined) break; // the original failed transiently: nothing stored
    if (doc.state === "done") return doc;
    if (await o.replies.orphaned(doc)) return "orphaned";
  }
  if (signal.aborted) throw abortedCallError(signal);
  throw transientError(
    "a request with this x-request-id is being processed; retry later for its reply",
    Code.Unavailable,
    "REQUEST_IN_PROGRESS",
    o.retryHintMs,
  );
}

function replayed(o: IdempotencyOptions, req: UnaryRequest, doc: ReplyDoc): UnaryResponse {
  o.seen?.(req.method.name, doc.error === undefined ? "reply" : "error");
  return replay(req, doc);
}

function replay(req: UnaryRequest, doc: ReplyDoc): UnaryResponse {
  if (doc.error !== undefined) {
    const e = new ConnectError(doc.error.message, doc.error.code, { [REPLAY_HEADER]: "true" });
    e.details = doc.error.details.map((d) => ({ type: d.type, value: Buffer.from(d.value, "base64") }));
    throw e;
  }
  return {
    stream: false,
    service: req.service,
    method: req.method,
    // A reply answers in the encoding it was asked in (gRPC, gRPC-web or Connect; binary or JSON).
    header: new Headers({ "content-type": req.header.get("content-type") ?? "application/grpc+proto", [REPLAY_HEADER]: "true" }),
    message: fromBinary(req.method.output, Buffer.from(doc.response ?? "", "base64")),
    // gRPC ends a call with its status in the trailers: a replay must carry it too.
    trailer: new Headers(
      /^application\/grpc/.test(req.header.get("content-type") ?? "")
        ? { "grpc-status": "0", [REPLAY_HEADER]: "true" }
        : { [REPLAY_HEADER]: "true" },
    ),
  } as UnaryResponse;
}

function storedError(e: ConnectError): NonNullable<ReplyDoc["error"]> {
  const details = e.details.map((d) =>
    "desc" in d
      ? { type: d.desc.typeName, value: Buffer.from(toBinary(d.desc, create(d.desc, d.value))).toString("base64") }
      : { type: d.type, value: Buffer.from(d.value).toString("base64") },
  );
  return { code: e.code, message: e.rawMessage, details };
}

function reused(req: UnaryRequest): ConnectError {
  const id = req.header.get(REQUEST_ID_HEADER) ?? "";
  return new ConnectError(
    `x-request-id ${JSON.stringify(id)} was already used for a different ${req.method.name} request (the payloads differ); a new request needs a new request id`,
    Code.InvalidArgument,
    undefined,
    [errorInfo("REQUEST_ID_REUSED", { metadata: { requestId: id, method: req.method.name } })],
  );
}
