import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { JournalRecord } from "../../src/core/iotp/journal.js";
import { RefusalTally } from "../../src/core/iotp/refusal-tally.js";
import { meshError } from "../../src/core/rpc/error-info.js";

describe("RefusalTally", () => {
  it("counts refusals per cause and journals one entry per cause per window, carrying the count and nothing the caller sent", async () => {
    const journaled: JournalRecord[] = [];
    const tally = new RefusalTally(async (r) => journaled.push(r), 60_000);
    const missing = meshError("missing bearer token", Code.Unauthenticated, "TOKEN_MISSING");
    for (let i = 0; i < 500; i++) expect(tally.count(missing)).toBe(true);
    expect(tally.count(meshError("role apcs may not call X", Code.PermissionDenied, "ROLE_NOT_ALLOWED"), "7700000001")).toBe(true);
    tally.add("STREAMS_EXHAUSTED", Code.ResourceExhausted, "your streams are at their limit", "7700000001");
    // Not a refusal: left to the caller's own journal step.
    expect(tally.count(new ConnectError("bad order", Code.InvalidArgument))).toBe(false);
    await tally.flush();
    expect(journaled.map((r) => [r.step, r.participantId, r.requestId, r.orderId])).toEqual([
      ["auth", "", "", ""],
      ["auth", "7700000001", "", ""],
      ["overload", "7700000001", "", ""],
    ]);
    expect(ConnectError.from(journaled[0]?.error).rawMessage).toMatch(/^500 calls refused \(TOKEN_MISSING\)/);
    // A quiet window journals nothing; the totals stay for metrics.
    await tally.flush();
    expect(journaled).toHaveLength(3);
    expect(tally.snapshot()).toContainEqual({
      kind: "auth",
      reason: "TOKEN_MISSING",
      code: "UNAUTHENTICATED",
      participantId: "",
      total: 500,
    });
  });
});
