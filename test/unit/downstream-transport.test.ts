import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/core/config.js";
import { createDownstreamTransport, transportBelow } from "../../src/core/process/downstream-transport.js";
import { pino } from "pino";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";

/** The grpc-accept-encoding each call arrived with, told back as the order id. */
function echoAcceptEncoding(): http2.Http2Server {
  return http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(EmitterService, {
          getEmissionOrder: (_req, ctx) => ({ order: { orderId: ctx.requestHeader.get("grpc-accept-encoding") ?? "" } }),
        }),
    }),
  );
}

describe("createDownstreamTransport", () => {
  let server: http2.Http2Server;
  let port = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  beforeAll(async () => {
    server = echoAcceptEncoding();
    server.on("session", (s) => sessions.add(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    // The transports keep their connections open: close them from this side.
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function acceptEncoding(gzip?: boolean): Promise<string> {
    const transport = createDownstreamTransport({
      address: { host: "127.0.0.1", port },
      token: "t",
      maxMessageBytes: 1 << 20,
      ...(gzip === undefined ? {} : { gzip }),
    });
    const r = await createClient(EmitterService, transport).getEmissionOrder({ orderId: "x" });
    return r.order?.orderId ?? "";
  }

  it("does not let the role below compress its responses (code blocks cost more CPU to gzip than to send)", async () => {
    expect(await acceptEncoding()).not.toMatch(/gzip|br/);
  });

  it("accepts gzip when asked to", async () => {
    expect(await acceptEncoding(true)).toMatch(/gzip/);
  });

  it("accepts gzip on a role's hop when HOP_GZIP is true, and not by default", async () => {
    const below = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const transport = transportBelow(
        loadConfig([], env),
        { address: { host: "127.0.0.1", port }, token: "t" },
        pino({ level: "silent" }),
      );
      return (await createClient(EmitterService, transport).getEmissionOrder({ orderId: "x" })).order?.orderId ?? "";
    };
    expect(await below({ HOP_GZIP: "true" })).toMatch(/gzip/);
    expect(await below({})).not.toMatch(/gzip/);
  });
});
