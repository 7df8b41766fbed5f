import type http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

/** Sessions already guarded: one listener each is enough. */
const guarded = new WeakSet<http2.Http2Session>();

function ignore(): void {
  // The manager has seen or surfaced this error already, or has left the connection behind.
}

/** How often reads of response streams reset the keep-alive's ping timer, at most (pings come every 10 s or more). */
export const READ_NOTICE_MS = 1_000;

/**
 * connect-node's HTTP/2 session manager, with a guard against a crash it has
 * (connectrpc/connect-es#1768, open): a GOAWAY without open streams (a role
 * below restarted gracefully, a proxy recycling an idle connection) makes it
 * destroy the connection with an error that Node.js raises only once the
 * socket has closed; a request arriving meanwhile reconnects, the manager
 * removes its listeners from the old connection, and the late "error" event
 * kills the process. Each connection a request went out on keeps a listener
 * of its own, as the manager's own abort() does.
 */
export class GuardedSessionManager extends Http2SessionManager {
  /** When a read was last passed on to the keep-alive logic (see notifyResponseByteRead). */
  private lastReadNotice = 0;

  /**
   * connect-node calls this on every chunk a response stream reads (a code
   * block is three or four), and each call resets the ping timer. Passed on
   * at most once per READ_NOTICE_MS: the keep-alive only needs to know the
   * connection is alive, and at worst it pings that much earlier (a PING on
   * a live connection, answered like any other).
   */
  override notifyResponseByteRead(stream: http2.ClientHttp2Stream): void {
    const now = Date.now();
    if (now - this.lastReadNotice < READ_NOTICE_MS) return;
    this.lastReadNotice = now;
    super.notifyResponseByteRead(stream);
  }

  override async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(method, path, headers, options);
    const session = stream.session;
    if (session !== undefined && !guarded.has(session)) {
      guarded.add(session);
      session.on("error", ignore);
    }
    return stream;
  }
}
