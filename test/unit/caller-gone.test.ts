import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { callerGoneError, callTimeoutMs } from "../../src/core/rpc/caller-gone.js";

/** How connect-node's handler reports a client's reset for a reason other than a cancel. */
const reset = new ConnectError("http/2 stream closed with error code INTERNAL_ERROR (0x2)", Code.Internal);

describe("callTimeoutMs", () => {
  it("reads gRPC's grpc-timeout in every unit and Connect's connect-timeout-ms", () => {
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "5S" }))).toBe(5_000);
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "250m" }))).toBe(250);
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "2M" }))).toBe(120_000);
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "1H" }))).toBe(3_600_000);
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "3000000u" }))).toBe(3_000);
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "4000000n" }))).toBe(4);
    expect(callTimeoutMs(new Headers({ "connect-timeout-ms": "1500" }))).toBe(1_500);
  });

  it("gives nothing for no deadline or a malformed one", () => {
    expect(callTimeoutMs(new Headers())).toBeUndefined();
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "5s" }))).toBeUndefined();
    expect(callTimeoutMs(new Headers({ "grpc-timeout": "123456789S" }))).toBeUndefined();
    expect(callTimeoutMs(new Headers({ "connect-timeout-ms": "soon" }))).toBeUndefined();
  });
});

describe("callerGoneError", () => {
  it("calls a reset at the caller's deadline DEADLINE_EXCEEDED, keeping what was seen", () => {
    const e = callerGoneError(reset, new Headers({ "grpc-timeout": "5S" }), 4_990);
    expect(e.code).toBe(Code.DeadlineExceeded);
    expect(e.rawMessage).toBe("the caller's deadline of 5000 ms passed (http/2 stream closed with error code INTERNAL_ERROR (0x2))");
    expect(e.cause).toBe(reset);
  });

  it("calls a reset well before the deadline, or without one, CANCELLED", () => {
    expect(callerGoneError(reset, new Headers({ "grpc-timeout": "5S" }), 1_000).code).toBe(Code.Canceled);
    const e = callerGoneError(reset, new Headers(), 60_000);
    expect(e.code).toBe(Code.Canceled);
    expect(e.rawMessage).toMatch(/^the caller went away \(http\/2 stream closed/);
  });

  it("leaves a cancel or a deadline as it is", () => {
    const cancelled = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
    const late = new ConnectError("the operation timed out", Code.DeadlineExceeded);
    expect(callerGoneError(cancelled, new Headers({ "grpc-timeout": "1S" }), 2_000)).toBe(cancelled);
    expect(callerGoneError(late, new Headers(), 0)).toBe(late);
  });
});
