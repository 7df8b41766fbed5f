import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuardedSessionManager } from "../../src/core/process/guarded-session-manager.js";

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What happens to a connection the server sends GOAWAY on while idle, when a request follows at once. */
async function goawayThenRequest(sm: Http2SessionManager, serverSession: () => http2.ServerHttp2Session): Promise<number> {
  const first = await sm.request("POST", "/", {}, {});
  await pause(10);
  await new Promise<void>((r) => first.close(http2.constants.NGHTTP2_NO_ERROR, r));
  await pause(10);
  const conn = (sm as unknown as { s: { conn: http2.ClientHttp2Session } }).s.conn;
  const closed = new Promise<void>((r) => conn.once("close", r));
  serverSession().goaway(http2.constants.NGHTTP2_NO_ERROR);
  await new Promise<void>((r) => conn.once("goaway", () => r()));
  // A request before Node.js raises the destroyed connection's deferred error: the manager reconnects and leaves the old one.
  const second = await sm.request("POST", "/", {}, {});
  const listeners = conn.listenerCount("error");
  await closed; // the deferred "error" event has been raised by now
  await new Promise<void>((r) => second.close(http2.constants.NGHTTP2_NO_ERROR, r));
  return listeners;
}

describe("GuardedSessionManager", () => {
  let server: http2.Http2Server;
  let url = "";
  const sessions: http2.ServerHttp2Session[] = [];
  beforeAll(async () => {
    server = http2.createServer((_req, res) => res.end());
    server.on("session", (s) => sessions.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("survives a GOAWAY on an idle connection followed at once by a request (connect-es#1768 would crash the process)", async () => {
    const sm = new GuardedSessionManager(url);
    const before = sessions.length;
    // The old connection keeps a listener after the manager has left it, so its late error is not uncaught.
    expect(await goawayThenRequest(sm, () => sessions[before] as http2.ServerHttp2Session)).toBeGreaterThan(0);
    sm.abort();
  });
});
