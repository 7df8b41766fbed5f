import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import { logSink } from "../../src/core/runtime/log-sink.js";

const line = JSON.stringify({ level: 30, time: 1_796_000_000_000, role: "oms", orderId: "o-1", msg: "listening" });

describe("logSink", () => {
  it("passes JSON lines through unchanged when nobody reads them at a terminal", () => {
    const out: string[] = [];
    logSink(false, (t) => out.push(t))(line);
    expect(out).toEqual([`${line}\n`]);
  });

  it("prints a readable line naming the level, the role and the message at a terminal", () => {
    const out: string[] = [];
    logSink(true, (t) => out.push(t))(line);
    const text = stripVTControlCharacters(out.join(""));
    expect(text).toMatch(/INFO.*oms: listening/);
    expect(text).toContain('orderId: "o-1"');
    expect(text).not.toContain('{"level"');
  });
});
