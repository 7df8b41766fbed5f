import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { clip } from "../../src/core/runtime/clip.js";
import { levelOf } from "../../src/core/rpc/error-interceptor.js";
import { LogBudget } from "../../src/core/runtime/log-budget.js";

describe("LogBudget", () => {
  it("lets a burst through, then one line a second per kind, counting the lines left out", () => {
    let now = 0;
    const budget = new LogBudget(3, 1, () => now);
    expect([budget.take("a"), budget.take("a"), budget.take("a"), budget.take("a"), budget.take("a")]).toEqual([
      0,
      0,
      0,
      undefined,
      undefined,
    ]);
    expect(budget.take("b")).toBe(0); // another kind has its own bucket
    now = 1_000;
    expect(budget.take("a")).toBe(2);
    expect(budget.take("a")).toBeUndefined();
  });
});

describe("levelOf", () => {
  it("keeps error for faults of the mesh; refusals warn, and client resets and calls for a missing method or without a message are info, all rate-limited", () => {
    expect(levelOf(new ConnectError("boom", Code.Internal), false)).toEqual({ level: "error", limited: false });
    expect(levelOf(new ConnectError("no token", Code.Unauthenticated), false)).toEqual({ level: "warn", limited: true });
    expect(levelOf(new ConnectError("role", Code.PermissionDenied), false)).toEqual({ level: "warn", limited: true });
    // A client that resets its stream leaves a "Premature close" error behind, with the call's signal aborted.
    expect(levelOf(ConnectError.from(new Error("Premature close"), Code.Internal), true)).toEqual({ level: "info", limited: true });
    expect(levelOf(new ConnectError("cancelled", Code.Canceled), false)).toEqual({ level: "info", limited: true });
    expect(levelOf(new ConnectError("bad", Code.InvalidArgument), false)).toEqual({ level: "info", limited: false });
    expect(
      levelOf(new ConnectError("protocol error: missing input message for server_streaming method", Code.Unimplemented), false),
    ).toEqual({
      level: "info",
      limited: true,
    });
    const below = new ConnectError(
      "below",
      Code.Unimplemented,
      undefined,
      undefined,
      new ConnectError("no such method", Code.Unimplemented),
    );
    expect(levelOf(below, false)).toEqual({ level: "error", limited: false });
  });
});

describe("clip", () => {
  it("keeps short text whole and cuts long text to its limit, saying how long it was", () => {
    expect(clip("abc", 5)).toBe("abc");
    expect(clip("x".repeat(10_000), 5)).toBe("xxxxx…[10000 chars]");
  });
});
