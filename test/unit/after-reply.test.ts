import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { afterReplyOf, afterReplyValues } from "../../src/core/rpc/after-reply.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";

/** What happened, in order: the handler's return, the work's start (and whether the call's stream was closed by then). */
type Event = "handler returned" | "work (stream closed)" | "work (stream open)";

describe("afterReplyValues", () => {
  let server: http2.Http2Server | undefined;
  const sessions = new Set<http2.ServerHttp2Session>();
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    // The client keeps its connection open: closed from this side, so the server stops at once.
    for (const session of sessions) session.destroy();
    sessions.clear();
    await new Promise((resolve) => s.close(resolve));
  });

  /** A gRPC server on loopback whose Health.Check leaves `work` for after its reply, or fails after leaving it. */
  async function serve(events: Event[], failed: (err: unknown) => void, o: { fail?: boolean; work?: () => void } = {}) {
    let stream: http2.ServerHttp2Stream | undefined;
    const routes = (router: ConnectRouter): void => {
      router.service(Health, {
        check(_req, ctx) {
          afterReplyOf(ctx).run(o.work ?? (() => events.push(stream?.closed === true ? "work (stream closed)" : "work (stream open)")));
          events.push("handler returned");
          if (o.fail === true) throw new ConnectError("refused", Code.FailedPrecondition);
          return { status: HealthCheckResponse_ServingStatus.SERVING };
        },
      });
    };
    const adapter = connectNodeAdapter({
      routes,
      contextValues: (req) => {
        if (req instanceof http2.Http2ServerRequest) stream = req.stream;
        return afterReplyValues(req, failed);
      },
    });
    const s = http2.createServer(adapter);
    s.on("session", (session) => sessions.add(session));
    server = s;
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const { port } = s.address() as AddressInfo;
    return createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  }

  it("starts the work once the call's stream has closed, not while the handler runs", async () => {
    const events: Event[] = [];
    const client = await serve(events, () => undefined);
    await client.check({});
    await vi.waitFor(() => expect(events).toEqual(["handler returned", "work (stream closed)"]));
  });

  it("starts the work after an error reply too", async () => {
    const events: Event[] = [];
    const client = await serve(events, () => undefined, { fail: true });
    await expect(client.check({})).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await vi.waitFor(() => expect(events).toEqual(["handler returned", "work (stream closed)"]));
  });

  it("reports work that throws instead of letting it escape", async () => {
    const failed = vi.fn();
    const client = await serve([], failed, {
      work: () => {
        throw new Error("broken work");
      },
    });
    await client.check({});
    await vi.waitFor(() => expect(failed).toHaveBeenCalledWith(expect.objectContaining({ message: "broken work" })));
  });

  it("runs work at once where the call has no HTTP/2 stream (the in-memory transport)", () => {
    const events: string[] = [];
    const values = afterReplyValues({} as never, () => undefined);
    expect(values).toBeDefined();
    afterReplyOf({ values } as never).run(() => events.push("work"));
    expect(events).toEqual(["work"]);
  });
});
