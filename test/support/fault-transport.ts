import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { REPLAY_HEADER } from "../../src/core/iotp/idempotency-interceptor.js";
import { REQUEST_ID_HEADER } from "../../src/core/rpc/request-id.js";

/**
 * What a fault-injecting link can do to a call between two roles:
 * - dropReply: the request reaches the server and is processed, the reply is
 *   lost (the client sees UNAVAILABLE or DEADLINE_EXCEEDED);
 * - duplicate: the request is delivered twice (at once or one after the
 *   other) and the client gets one of the two replies;
 * - delay: the request is held past the caller's deadline (the client gets
 *   DEADLINE_EXCEEDED when its deadline passes) and reaches the server later;
 * - failBefore: the call fails with UNAVAILABLE and never reaches the server;
 * - cutStream: a server stream breaks with UNAVAILABLE after k messages.
 */
export type FaultKind = "dropReply" | "duplicate" | "delay" | "failBefore" | "cutStream";

export const FAULT_KINDS: readonly FaultKind[] = ["dropReply", "duplicate", "delay", "failBefore", "cutStream"];
const UNARY_KINDS: readonly FaultKind[] = ["dropReply", "duplicate", "delay", "failBefore"];

/** How a fault is carried out; anything left out is drawn from the plan's PRNG. */
export interface FaultParams {
  /**
   * dropReply: the code the client sees (by default UNAVAILABLE or
   * DEADLINE_EXCEEDED at random). ABORTED "read ECONNRESET" is what
   * connect-node reports when the TCP connection under the call is reset.
   */
  dropCode?: Code;
  /** duplicate: both copies at once, or the second after the first is answered. */
  duplicate?: "concurrent" | "sequential";
  /** delay: how long past the caller's deadline the request reaches the server. */
  delayPastDeadlineMs?: number;
  /** cutStream: messages delivered before the stream breaks. */
  cutAfter?: number;
  /**
   * cutStream: the code the client's iterator throws (default UNAVAILABLE).
   * ABORTED is what connect-node reports when the TCP connection under a
   * stream is reset ("read ECONNRESET").
   */
  cutCode?: Code;
}

/** A deterministic fault: "the first N calls of method X" (or calls number …). */
export interface FaultRule extends FaultParams {
  kind: FaultKind;
  /** Method name as in the proto ("CreateOrder", "StreamCodes"); any method if left out. */
  method?: string;
  /**
   * Only calls with this x-request-id (or streams of this order id); then
   * `first` and `calls` count only those calls.
   */
  key?: string;
  /** The first `first` calls of the method on this link (1-based count of calls of that method). */
  first?: number;
  /** Or exactly these call numbers of the method. */
  calls?: readonly number[];
}

export interface FaultPlan {
  /** Seed of the plan's PRNG (mulberry32): the same seed and call order give the same faults. */
  seed?: number;
  /** Probability of each kind per eligible call (unary kinds are exclusive: keep their sum below 1). */
  rates?: Partial<Record<FaultKind, number>>;
  /** Deterministic faults, checked before the random ones. */
  rules?: readonly FaultRule[];
  /** Unary methods random faults may hit; by default every state-changing one (queries are not retransmitted). */
  methods?: readonly string[];
  /** Streaming methods random cuts may hit; by default every server stream. */
  streamMethods?: readonly string[];
  /**
   * Random faults in a row on one request (same method and x-request-id, or
   * the stream of one order) before one is let through: keeps a retransmitting
   * client from losing every attempt. Default 3.
   */
  maxConsecutive?: number;
  /** At most this many random faults of a kind in all (rules are not counted against it). */
  budget?: Partial<Record<FaultKind, number>>;
  /** Range of delayPastDeadlineMs for random delays (default [20, 200]). */
  delayPastDeadlineMs?: readonly [number, number];
  /** Range of cutAfter for random cuts (default [1, 3]). */
  cutAfter?: readonly [number, number];
  /** Deadline of a delayed request when it finally reaches the server (default 5 000 ms). */
  lateDeadlineMs?: number;
}

/** One injected fault. */
export interface FaultEvent {
  kind: FaultKind;
  method: string;
  /** Number of the call among calls of this method on this link (1-based). */
  call: number;
  /** x-request-id of the call, or the order id of a stream. */
  key: string;
  detail: string;
  /** dropReply: the reply the client never saw. */
  droppedReply?: unknown;
}

export interface FaultStats {
  /** Calls made through the link, by method. */
  calls: Record<string, number>;
  /** Faults injected, by kind. */
  injected: Record<FaultKind, number>;
  /** Faults injected, by method and kind. */
  byMethod: Record<string, Partial<Record<FaultKind, number>>>;
  /** Replies the server marked as stored replays (x-idempotent-replay: true), by method, whether or not the client saw them. */
  replays: Record<string, number>;
  /** Stream messages handed to the client, by method (with cuts, each block should still pass exactly once). */
  messages: Record<string, number>;
  /** Delayed requests that reached the server after the caller's deadline. */
  lateDelivered: number;
  events: FaultEvent[];
}

export interface FaultyTransport extends Transport {
  readonly stats: FaultStats;
  /** Resolves once every delayed request has reached the server and been answered. */
  settle(): Promise<void>;
  /** Stops injecting faults (the link heals); calls already under way finish as planned. */
  heal(): void;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MAX_EVENTS = 10_000;

/**
 * Wraps the Transport of one link between two roles (or between APCS and
 * OMS) so that calls over it suffer the faults of `plan`: deterministic ones
 * from its rules, random ones at its rates from a seeded PRNG, never more
 * than `maxConsecutive` in a row on one request, and never more than its
 * budget. Every injected fault is counted in `stats`.
 */
export function faultyTransport(inner: Transport, plan: FaultPlan): FaultyTransport {
  const random = mulberry32(plan.seed ?? 1);
  const between = (range: readonly [number, number]): number => range[0] + Math.floor(random() * (range[1] - range[0] + 1));
  const maxConsecutive = plan.maxConsecutive ?? 3;
  const lateDeadlineMs = plan.lateDeadlineMs ?? 5_000;
  const stats: FaultStats = {
    calls: {},
    injected: { dropReply: 0, duplicate: 0, delay: 0, failBefore: 0, cutStream: 0 },
    byMethod: {},
    replays: {},
    messages: {},
    lateDelivered: 0,
    events: [],
  };
  const randomFaults: Record<FaultKind, number> = { dropReply: 0, duplicate: 0, delay: 0, failBefore: 0, cutStream: 0 };
  const inARow = new Map<string, number>();
  const callsByKey = new Map<string, number>();
  const late = new Set<Promise<void>>();
  let healed = false;

  function record(e: FaultEvent): void {
    stats.injected[e.kind] += 1;
    stats.byMethod[e.method] ??= {};
    const m = stats.byMethod[e.method];
    m[e.kind] = (m[e.kind] ?? 0) + 1;
    if (stats.events.length < MAX_EVENTS) stats.events.push(e);
  }

  function sawReply(method: string, header: Headers): void {
    if (header.get(REPLAY_HEADER) === "true") stats.replays[method] = (stats.replays[method] ?? 0) + 1;
  }

  /** Picks the fault for a call, if any: rules first, then one draw of the PRNG. */
  function decide(
    name: string,
    call: number,
    key: string,
    kinds: readonly FaultKind[],
    eligible: boolean,
  ): (FaultParams & { kind: FaultKind }) | undefined {
    const draw = random(); // one draw per call, so the sequence depends on the call order only
    if (healed) return undefined;
    const keyed = (callsByKey.get(`${name}|${key}`) ?? 0) + 1;
    callsByKey.set(`${name}|${key}`, keyed);
    for (const r of plan.rules ?? []) {
      if (!kinds.includes(r.kind) || (r.method !== undefined && r.method !== name) || (r.key !== undefined && r.key !== key)) continue;
      const n = r.key === undefined ? call : keyed;
      if ((r.first !== undefined && n <= r.first) || (r.calls?.includes(n) ?? false)) return r;
    }
    const streak = `${name}|${key}`;
    if (!eligible || (inARow.get(streak) ?? 0) >= maxConsecutive) {
      inARow.delete(streak);
      return undefined;
    }
    let acc = 0;
    for (const kind of kinds) {
      acc += plan.rates?.[kind] ?? 0;
      if (draw >= acc) continue;
      if (randomFaults[kind] >= (plan.budget?.[kind] ?? Number.POSITIVE_INFINITY)) break;
      randomFaults[kind] += 1;
      inARow.set(streak, (inARow.get(streak) ?? 0) + 1);
      return { kind };
    }
    inARow.delete(streak);
    return undefined;
  }

  function countCall(name: string): number {
    stats.calls[name] = (stats.calls[name] ?? 0) + 1;
    return stats.calls[name];
  }

  async function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Parameters<Transport["unary"]>[3],
    input: MessageInitShape<I>,
    values?: Parameters<Transport["unary"]>[5],
  ): Promise<UnaryResponse<I, O>> {
    const name = method.name;
    const call = countCall(name);
    const key = new Headers(header).get(REQUEST_ID_HEADER) ?? "";
    const changesState = method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    const eligible = plan.methods === undefined ? changesState : plan.methods.includes(name);
    // A delay past the deadline needs a deadline: a call without one is not delayed at random.
    const kinds = timeoutMs === undefined ? UNARY_KINDS.filter((k) => k !== "delay") : UNARY_KINDS;
    const fault = decide(name, call, key, kinds, eligible);
    const send = async (t: number | undefined, s: AbortSignal | undefined = signal): Promise<UnaryResponse<I, O>> => {
      const res = await inner.unary(method, s, t, header, input, values);
      sawReply(name, res.header);
      return res;
    };
    const event = (kind: FaultKind, detail: string, extra: Partial<FaultEvent> = {}): void =>
      record({ kind, method: name, call, key, detail, ...extra });

    switch (fault?.kind) {
      case undefined:
        return send(timeoutMs);

      case "failBefore":
        event("failBefore", "refused before delivery");
        throw new ConnectError(`fault injected: ${name} could not be delivered (connection refused)`, Code.Unavailable);

      case "dropReply": {
        const code = fault.dropCode ?? (random() < 0.5 ? Code.Unavailable : Code.DeadlineExceeded);
        let reply: unknown;
        try {
          reply = (await send(timeoutMs)).message;
        } catch (err) {
          reply = ConnectError.from(err);
        }
        event("dropReply", `reply lost, client sees ${Code[code]}`, { droppedReply: reply });
        throw new ConnectError(code === Code.Aborted ? "read ECONNRESET" : `fault injected: the reply to ${name} was lost`, code);
      }

      case "duplicate": {
        const mode = fault.duplicate ?? (random() < 0.5 ? "concurrent" : "sequential");
        const pickSecond = random() < 0.5;
        event("duplicate", `delivered twice (${mode}), client gets the ${pickSecond ? "second" : "first"} reply`);
        const started = Date.now();
        let first: PromiseSettledResult<UnaryResponse<I, O>>;
        let second: PromiseSettledResult<UnaryResponse<I, O>>;
        if (mode === "concurrent") {
          [first, second] = await Promise.allSettled([send(timeoutMs), send(timeoutMs)]);
        } else {
          [first] = await Promise.allSettled([send(timeoutMs)]);
          // The second copy stays within what is left of the caller's deadline.
          const left = timeoutMs === undefined ? undefined : timeoutMs - (Date.now() - started);
          if (left !== undefined && left <= 0) second = first;
          else [second] = await Promise.allSettled([send(left)]);
        }
        const chosen = pickSecond ? second : first;
        if (chosen.status === "fulfilled") return chosen.value;
        throw chosen.reason;
      }

      case "delay": {
        const past = fault.delayPastDeadlineMs ?? between(plan.delayPastDeadlineMs ?? [20, 200]);
        const holdMs = (timeoutMs ?? 0) + past;
        event(
          "delay",
          timeoutMs === undefined ? `held ${past} ms (no deadline)` : `held ${holdMs} ms, ${past} ms past the ${timeoutMs} ms deadline`,
        );
        if (timeoutMs === undefined) {
          // A rule may delay a call without a deadline: then it is just slow.
          await sleep(past, signal);
          return send(undefined);
        }
        // The request is already on its way: it reaches the server late whatever the client does.
        const delivery = sleep(holdMs)
          .then(() => send(lateDeadlineMs, undefined))
          .then(
            () => undefined,
            () => undefined,
          )
          .finally(() => {
            stats.lateDelivered += 1;
            late.delete(delivery);
          });
        late.add(delivery);
        await sleep(timeoutMs, signal);
        if (signal?.aborted === true) throw new ConnectError(`${name} was cancelled`, Code.Canceled);
        throw new ConnectError(`fault injected: ${name} got no reply within its ${timeoutMs} ms deadline`, Code.DeadlineExceeded);
      }

      default:
        return send(timeoutMs);
    }
  }

  async function stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Parameters<Transport["stream"]>[3],
    input: AsyncIterable<MessageInitShape<I>>,
    values?: Parameters<Transport["stream"]>[5],
  ): Promise<StreamResponse<I, O>> {
    const name = method.name;
    const call = countCall(name);
    let requests: AsyncIterable<MessageInitShape<I>> = input;
    let key = "";
    if (method.methodKind === "server_streaming") {
      // One request message: read it to know which order the stream is about.
      const all: MessageInitShape<I>[] = [];
      for await (const m of input) all.push(m);
      requests = fromArray(all);
      const orderId = (all[0] as { orderId?: unknown } | undefined)?.orderId;
      key = typeof orderId === "string" ? orderId : "";
    }
    const eligible = plan.streamMethods === undefined ? method.methodKind === "server_streaming" : plan.streamMethods.includes(name);
    const fault = decide(name, call, key, ["cutStream"], eligible);
    const count = (): void => {
      stats.messages[name] = (stats.messages[name] ?? 0) + 1;
    };
    if (fault === undefined) {
      const res = await inner.stream(method, signal, timeoutMs, header, requests, values);
      return { ...res, message: counted(res.message, count) };
    }
    const cutAfter = fault.cutAfter ?? between(plan.cutAfter ?? [1, 3]);
    // The inner call gets its own signal, so a cut also ends the server's side of the stream.
    const abort = new AbortController();
    const onAbort = (): void => abort.abort(signal?.reason);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    const res = await inner.stream(method, abort.signal, timeoutMs, header, requests, values);
    const code = fault.cutCode ?? Code.Unavailable;
    const cut = (): ConnectError => {
      record({ kind: "cutStream", method: name, call, key, detail: `cut after ${cutAfter} messages (${Code[code]})` });
      abort.abort(new ConnectError("fault injected: stream cut", code));
      // Worded as connect-node words a reset connection when the code is ABORTED.
      return new ConnectError(
        code === Code.Aborted ? "read ECONNRESET" : `fault injected: the ${name} stream was cut after ${cutAfter} messages`,
        code,
      );
    };
    const cleanup = (): void => signal?.removeEventListener("abort", onAbort);
    return { ...res, message: cutStream(res.message, cutAfter, cut, count, cleanup) };
  }

  return {
    stats,
    unary,
    stream,
    async settle() {
      while (late.size > 0) await Promise.allSettled([...late]);
    },
    heal() {
      healed = true;
    },
  };
}

async function* fromArray<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

async function* counted<T>(messages: AsyncIterable<T>, count: () => void): AsyncIterable<T> {
  for await (const m of messages) {
    count();
    yield m;
  }
}

/** Hands out `k` messages; when the client asks for one more, the stream breaks. */
async function* cutStream<T>(
  messages: AsyncIterable<T>,
  k: number,
  cut: () => ConnectError,
  count: () => void,
  cleanup: () => void,
): AsyncIterable<T> {
  const it = messages[Symbol.asyncIterator]();
  let ended = false;
  try {
    for (let n = 0; ; n++) {
      if (n >= k) throw cut();
      const r = await it.next();
      if (r.done === true) {
        ended = true;
        return;
      }
      count();
      yield r.value;
    }
  } finally {
    cleanup();
    if (!ended) await it.return?.().catch(() => undefined);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
