import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { retransmittingTransport, retransmitUntil, type RetransmitPolicy } from "../../src/core/iotp/retransmitting-transport.js";
import { transientError } from "../../src/core/rpc/retry-hint.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { rejection } from "../support/rejection.js";

const PUSHBACK_MS = 40;

/** One received call: its method, request id and deadline. */
interface Seen {
  method: string;
  requestId: string | null;
  deadlineMs: number | undefined;
}

/**
 * OMS in memory whose CreateOrder and GetOrder fail `failures` times with
 * `code` (with a pushback when transient), then succeed.
 */
function flakyOms(failures: number, code: Code): { transport: Transport; seen: Seen[] } {
  const seen: Seen[] = [];
  const fail = (): ConnectError =>
    code === Code.InvalidArgument ? new ConnectError("bad order", code) : transientError("busy", code, "OVERLOADED", PUSHBACK_MS);
  const transport = createRouterTransport(({ service }) => {
    service(OmsService, {
      createOrder(_req, ctx) {
        seen.push({ method: "CreateOrder", requestId: ctx.requestHeader.get("x-request-id"), deadlineMs: ctx.timeoutMs() });
        if (seen.length <= failures) throw fail();
        return { order: { orderId: "o-1" } };
      },
      getOrder(_req, ctx) {
        seen.push({ method: "GetOrder", requestId: ctx.requestHeader.get("x-request-id"), deadlineMs: ctx.timeoutMs() });
        throw fail();
      },
    });
  });
  return { transport, seen };
}

/** Every "sending again" log line, as the policy reported it. */
function recordingLog(): { log: pino.Logger; retries: { what: string; attempt: number; code: string; retryInMs: number }[] } {
  const retries: { what: string; attempt: number; code: string; retryInMs: number }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void retries.push(JSON.parse(line) as (typeof retries)[number]) });
  return { log, retries };
}

const POLICY: RetransmitPolicy = { attempts: 4, initialBackoffMs: 1, maxBackoffMs: 2, callTimeoutMs: 2_000 };
const ID = { "x-request-id": "order-0001" };

describe("retransmittingTransport", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends a call with a request id again on UNAVAILABLE and RESOURCE_EXHAUSTED, with the same id and a deadline on each attempt", async () => {
    for (const code of [Code.Unavailable, Code.ResourceExhausted]) {
      const oms = flakyOms(2, code);
      const { log, retries } = recordingLog();
      const client = createClient(OmsService, retransmittingTransport(oms.transport, POLICY, log));
      const r = await client.createOrder({}, { headers: ID });
      expect(r.order?.orderId).toBe("o-1");
      expect(oms.seen.map((s) => s.requestId)).toEqual(["order-0001", "order-0001", "order-0001"]);
      expect(oms.seen.every((s) => s.deadlineMs !== undefined && s.deadlineMs <= POLICY.callTimeoutMs)).toBe(true);
      expect(retries.map((l) => [l.what, l.attempt, l.code])).toEqual([
        ["CreateOrder", 1, Code[code]],
        ["CreateOrder", 2, Code[code]],
      ]);
    }
  });

  it("never sends again sooner than the server's pushback", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const oms = flakyOms(1, Code.ResourceExhausted);
    const { log, retries } = recordingLog();
    const reply = createClient(OmsService, retransmittingTransport(oms.transport, POLICY, log)).createOrder({}, { headers: ID });
    await vi.advanceTimersByTimeAsync(PUSHBACK_MS - 1);
    expect(oms.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await reply).order?.orderId).toBe("o-1");
    expect(oms.seen).toHaveLength(2);
    expect(retries[0]?.retryInMs).toBeGreaterThanOrEqual(PUSHBACK_MS);
  });

  it("gives up after its attempts with the last code, details and a message saying so", async () => {
    const oms = flakyOms(10, Code.Unavailable);
    const { log } = recordingLog();
    const err = await rejection(
      createClient(OmsService, retransmittingTransport(oms.transport, POLICY, log)).createOrder({}, { headers: ID }),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/^CreateOrder: no reply after 4 attempts in \d+ ms \(last: busy\)$/);
    expect(err.details).toHaveLength(2);
    expect(oms.seen).toHaveLength(4);
  });

  it("does not send again on INVALID_ARGUMENT, nor a call without a request id", async () => {
    const bad = flakyOms(10, Code.InvalidArgument);
    const { log } = recordingLog();
    expect(
      (await rejection(createClient(OmsService, retransmittingTransport(bad.transport, POLICY, log)).createOrder({}, { headers: ID })))
        .code,
    ).toBe(Code.InvalidArgument);
    expect(bad.seen).toHaveLength(1);
    const busy = flakyOms(10, Code.Unavailable);
    const err = await rejection(
      createClient(OmsService, retransmittingTransport(busy.transport, POLICY, log)).getOrder({ orderId: "o-1" }),
    );
    expect([err.code, err.rawMessage]).toEqual([Code.Unavailable, "busy"]);
    expect(busy.seen.map((s) => [s.method, s.deadlineMs !== undefined])).toEqual([["GetOrder", true]]);
  });

  it("stops sending again once the caller's own signal aborts", async () => {
    const oms = flakyOms(10, Code.Unavailable);
    const { log } = recordingLog();
    const caller = new AbortController();
    const reply = createClient(OmsService, retransmittingTransport(oms.transport, { ...POLICY, attempts: 100 }, log)).createOrder(
      {},
      { headers: ID, contextValues: retransmitUntil(caller.signal) },
    );
    await vi.waitUntil(() => oms.seen.length >= 2);
    caller.abort();
    const err = await rejection(reply);
    expect([err.code, err.rawMessage]).toEqual([Code.Unavailable, "busy"]);
    expect(oms.seen.length).toBeLessThan(100);
  });

  it("joins the caller's signals into one only once a call needs sending again", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    try {
      const { log } = recordingLog();
      const signal = new AbortController().signal;
      const first = flakyOms(0, Code.Unavailable);
      await createClient(OmsService, retransmittingTransport(first.transport, POLICY, log)).createOrder({}, { headers: ID, signal });
      expect(any).not.toHaveBeenCalled();
      const flaky = flakyOms(2, Code.Unavailable);
      await createClient(OmsService, retransmittingTransport(flaky.transport, POLICY, log)).createOrder({}, { headers: ID, signal });
      expect(flaky.seen).toHaveLength(3);
      expect(any).toHaveBeenCalledTimes(1);
    } finally {
      any.mockRestore();
    }
  });
});
