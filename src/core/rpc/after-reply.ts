import type http from "node:http";
import http2 from "node:http2";
import { type ContextValues, createContextKey, createContextValues, type HandlerContext } from "@connectrpc/connect";

/**
 * Background work a handler starts with its reply (an order's emission, a
 * pool's fill), run once the reply has left: started at once, its first
 * steps would share the event loop with the reply still being encoded and
 * written, and the caller would wait for them. Work given here must not
 * throw; it is started, not awaited.
 */
export interface AfterReply {
  run(work: () => void): void;
}

/** Where there is no HTTP/2 stream to wait for (the in-memory transport of tests, HTTP/1.1): at once. */
const AT_ONCE: AfterReply = { run: (work) => work() };

export const afterReplyKey = createContextKey<AfterReply>(AT_ONCE, { description: "work started once the call's reply has left" });

export function afterReplyOf(ctx: HandlerContext): AfterReply {
  return ctx.values.get(afterReplyKey);
}

/**
 * The context values of a call on a node server: its after-reply work runs
 * when its HTTP/2 stream closes, which is when the reply's last frame has
 * been handed to the connection (or the call was cut short: the work runs
 * then too, as a handler that got as far as starting it has done its part).
 */
export function afterReplyValues(req: http.IncomingMessage | http2.Http2ServerRequest, failed: (err: unknown) => void): ContextValues {
  const values = createContextValues();
  if (req instanceof http2.Http2ServerRequest) values.set(afterReplyKey, new StreamClose(req.stream, failed));
  return values;
}

class StreamClose implements AfterReply {
  private queued: (() => void)[] | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly failed: (err: unknown) => void,
  ) {}

  run(work: () => void): void {
    if (this.stream.closed || this.stream.destroyed) {
      this.start(work);
      return;
    }
    if (this.queued === undefined) {
      this.queued = [];
      this.stream.once("close", () => this.flush());
    }
    this.queued.push(work);
  }

  private flush(): void {
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const work of queued) this.start(work);
  }

  private start(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.failed(err);
    }
  }
}
