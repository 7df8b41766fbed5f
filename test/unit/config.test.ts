import { describe, expect, it } from "vitest";
import { parseTokens } from "../../src/core/iotp/auth.js";
import { CLIENT_DEFAULTS, loadConfig, parseAddress } from "../../src/core/config.js";
import { deriveRequestId } from "../../src/core/rpc/request-id.js";

describe("loadConfig", () => {
  it("uses the documented default addresses", () => {
    const c = loadConfig([], {});
    expect([c.oms.address.port, c.registrar.address.port, c.emissionServer.address.port]).toEqual([50051, 50052, 50053]);
    expect(c.oms.address.host).toBe("127.0.0.1");
  });

  it("leaves metrics and tracing off unless METRICS_ADDR and the OTEL_* settings ask for them", () => {
    const off = loadConfig([], {});
    expect(off.telemetry.metricsAddr).toBeUndefined();
    expect(off.telemetry.tracesExporter).toBe("");
    const on = loadConfig([], {
      METRICS_ADDR: "127.0.0.1:0",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      OTEL_SERVICE_NAME: "oms-a",
    });
    expect(on.telemetry).toMatchObject({
      metricsAddr: { host: "127.0.0.1", port: 0 },
      otlpEndpoint: "http://127.0.0.1:4318",
      serviceName: "oms-a",
    });
    expect(() => loadConfig([], { METRICS_ADDR: "9464" })).toThrow('METRICS_ADDR="9464": expected host:port');
  });

  it("lets flags win over environment variables", () => {
    const c = loadConfig(["node", "x", "--oms", "127.0.0.1:6000"], {
      OMS_ADDR: "127.0.0.1:7000",
      REGISTRAR_ADDR: "[::1]:7001",
      EMISSION_RATE: "5",
    });
    expect(c.oms.address).toEqual({ host: "127.0.0.1", port: 6000 });
    expect(c.registrar.address).toEqual({ host: "::1", port: 7001 });
    expect(c.emissionServer.emissionRate).toBe(5);
  });

  it("refuses limits that do not fit together: a stored reply outliving its retransmissions, the role above's streams", () => {
    expect(() => loadConfig([], { REPLY_TTL_MS: "1000" })).toThrow(/REPLY_TTL_MS \(1000\) must be at least .* = 210000/);
    // Two development participants × 100 active orders = 200 code streams the role above may hold at once.
    expect(() => loadConfig([], { MAX_STREAMS_PER_ROLE: "199" })).toThrow(/participants × MAX_ACTIVE_ORDERS = 200/);
    expect(loadConfig([], { MAX_STREAMS_PER_ROLE: "200", MAX_STREAMS_PER_CONNECTION: "456" }).streams.maxStreamsPerRole).toBe(200);
    expect(() => loadConfig([], { MAX_STREAMS_PER_CONNECTION: "2048" })).toThrow(/MAX_STREAMS_PER_CONNECTION \(2048\) must be at least/);
  });

  it("refuses malformed values with a message naming them", () => {
    expect(() => parseAddress("localhost")).toThrow(/not host:port/);
    expect(() => loadConfig([], { BLOCK_SIZE: "-3" })).toThrow(/positive integer/);
  });

  it("names the variable of a bad value and says what it expects", () => {
    expect(() => loadConfig([], { CALL_TIMEOUT_MS: "soon" })).toThrow('CALL_TIMEOUT_MS="soon": expected a positive integer');
    expect(() => loadConfig([], { RETRANSMIT_ATTEMPTS: "2.5" })).toThrow('RETRANSMIT_ATTEMPTS="2.5": expected a positive integer');
    expect(() => loadConfig([], { REGISTRAR_ADDR: "localhost" })).toThrow('REGISTRAR_ADDR="localhost": expected host:port');
    expect(() => loadConfig([], { EMISSION_WORKERS: "-1" })).toThrow('EMISSION_WORKERS="-1": expected a whole number, 0 or more');
    expect(() => loadConfig([], { HOP_GZIP: "yes" })).toThrow('HOP_GZIP="yes": expected "true" or "false" (or 1/0)');
  });

  it("signs blocks on one worker thread unless told how many, none included", () => {
    expect(loadConfig([], {}).emissionServer.blockWorkers).toBe(1);
    expect(loadConfig([], { EMISSION_WORKERS: "0" }).emissionServer.blockWorkers).toBe(0);
  });

  it("treats an empty variable as unset, and lets a flag stand in for a bad variable", () => {
    const c = loadConfig(["node", "x", "--block-size", "7"], { CALL_TIMEOUT_MS: "", BLOCK_SIZE: "-3" });
    expect([c.callTimeoutMs, c.emissionServer.blockSize]).toEqual([CLIENT_DEFAULTS.callTimeoutMs, 7]);
  });

  it("declares each default once: the client defaults are the server roles' defaults", () => {
    const c = loadConfig([], {});
    expect(CLIENT_DEFAULTS).toEqual({ oms: "127.0.0.1:50051", callTimeoutMs: c.callTimeoutMs, retransmit: c.retransmit });
    expect([c.callTimeoutMs, c.retransmit, c.maxMessageBytes]).toEqual([
      30_000,
      { attempts: 6, initialBackoffMs: 100, maxBackoffMs: 5_000 },
      64 * 1024 * 1024,
    ]);
  });
});

describe("parseTokens", () => {
  it("maps tokens to roles and participants", () => {
    const t = parseTokens("a=apcs:77,b=oms");
    expect(t.get("a")).toEqual({ role: "apcs", participantId: "77" });
    expect(t.get("b")).toEqual({ role: "oms", participantId: "" });
  });

  it("refuses unknown roles and line tokens without a participant", () => {
    expect(() => parseTokens("a=printer")).toThrow(/must be one of/);
    expect(() => parseTokens("a=apcs")).toThrow(/participant/);
  });

  it.each([
    ["no role", "dev-apcs=apcs:1,s3cr3t-Qz7-value"],
    ["the secret where the role goes", "dev-apcs=apcs:1,apcs=s3cr3t-Qz7-value"],
    ["a participant too many", "s3cr3t-Qz7-value=apcs:1:2"],
    ["an apcs token without a participant", "s3cr3t-Qz7-value=apcs"],
    ["a participant id too long", `s3cr3t-Qz7-value=apcs:${"9".repeat(65)}`],
  ])("names a malformed entry (%s) by its position and the shape expected, never its text", (_what, spec) => {
    let message = "";
    try {
      parseTokens(spec);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^MESH_TOKENS entry \d of \d/);
    expect(message).not.toContain("s3cr3t");
    expect(message).not.toContain("Qz7");
  });
});

describe("deriveRequestId", () => {
  it("derives the same downstream id from the same upstream id, and different ones per hop", () => {
    expect(deriveRequestId("req-1", "oms")).toBe(deriveRequestId("req-1", "oms"));
    expect(deriveRequestId("req-1", "oms")).not.toBe(deriveRequestId("req-2", "oms"));
    expect(deriveRequestId("req-1", "oms")).not.toBe(deriveRequestId("req-1", "registrar"));
  });
});
