import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport, type Http2SessionManager } from "@connectrpc/connect-node";
import { urlOf, type Address, type MeshConfig } from "../config.js";
import type { Logger } from "../runtime/index.js";
import { type RetransmitPolicy, retransmittingTransport } from "../iotp/index.js";
import { type ClientTls, clientTlsOptions } from "../rpc/index.js";
import { tracedTransport } from "../telemetry/index.js";
import { GuardedSessionManager } from "./guarded-session-manager.js";

export interface DownstreamOptions {
  address: Address;
  /** Bearer token this role presents to the role below. */
  token: string;
  maxMessageBytes: number;
  /**
   * A session manager of the caller's, to close the connection when a
   * short-lived program ends: downstreamSessions(downstreamUrl(address, tls), tls).
   */
  sessionManager?: Http2SessionManager;
  /**
   * Dial https:// instead of cleartext h2c: verify the server against `ca`
   * (the system roots without it) and present `cert`/`key` as the client
   * certificate (mutual TLS). A role passes its config.tls.
   */
  tls?: ClientTls | undefined;
  /**
   * Let the role below gzip its responses. Off unless asked: code blocks are
   * random text (serials, base64 tails) that gzip shrinks by less than half
   * for about 2 ms of CPU per 1 000-code block at each hop, on both sides of
   * it, which costs more than sending the bytes as they are on a LAN.
   */
  gzip?: boolean;
}

/** The URL of the role below: https:// when TLS is on, http:// (h2c) otherwise. */
export function downstreamUrl(address: Address, tls?: ClientTls): string {
  const url = urlOf(address);
  return tls === undefined ? url : url.replace(/^http:/, "https:");
}

/** gRPC over HTTP/2 (TLS with `tls`) to the role below, presenting this role's token on every call. */
export function createDownstreamTransport(o: DownstreamOptions): Transport {
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${o.token}`);
    return next(req);
  };
  const baseUrl = downstreamUrl(o.address, o.tls);
  return createGrpcTransport({
    baseUrl,
    interceptors: [lostConnection, bearer],
    readMaxBytes: o.maxMessageBytes,
    acceptCompression: o.gzip === true ? [compressionGzip] : [],
    sessionManager: o.sessionManager ?? downstreamSessions(baseUrl, o.tls),
  });
}

/**
 * The connections to the role below (guarded-session-manager.ts). Long code
 * streams sit idle while codes are being emitted; pings keep the connection
 * from looking dead to proxies and detect dead peers.
 */
export function downstreamSessions(baseUrl: string, tls?: ClientTls): Http2SessionManager {
  return new GuardedSessionManager(
    baseUrl,
    { pingIntervalMs: 10_000, pingIdleConnection: true },
    tls === undefined ? undefined : clientTlsOptions(tls),
  );
}

/**
 * How a server role calls the role below: over `override` (an in-memory
 * transport in tests) or gRPC to `below.address` with `below.token`; either
 * way unary calls are retransmitted (retransmitting-transport.ts) and traced.
 */
function retransmitPolicy(config: MeshConfig): RetransmitPolicy {
  return { ...config.retransmit, callTimeoutMs: config.callTimeoutMs };
}

export function transportBelow(
  config: MeshConfig,
  below: { address: Address; token: string },
  log: Logger,
  override?: Transport,
): Transport {
  const transport =
    override ??
    createDownstreamTransport({
      ...below,
      maxMessageBytes: config.maxMessageBytes,
      tls: config.tls,
      gzip: config.hopGzip,
    });
  // Each attempt is its own client span, carrying the trace below.
  return retransmittingTransport(tracedTransport(transport), retransmitPolicy(config), log);
}

/**
 * A call on an HTTP/2 connection that dies under it (the server process was
 * killed) fails as CANCELED although nobody cancelled it. That is a lost
 * connection: report it as UNAVAILABLE, the transient code a retry handles.
 */
const lostConnection: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code !== Code.Canceled || req.signal.aborted) throw e;
    throw new ConnectError(`connection lost: ${e.rawMessage}`, Code.Unavailable, e.metadata, undefined, e);
  }
};
