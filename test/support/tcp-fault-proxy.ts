import net from "node:net";
import { parseAddress } from "../../src/core/config.js";

/**
 * How a connection is cut. "reset": a TCP RST both ways, as when a peer or a
 * middlebox drops the connection (the client reads ECONNRESET). "close": the
 * proxy stops forwarding and closes both sides with a FIN, dropping whatever
 * still arrives.
 */
export type CutMode = "reset" | "close";

export interface CutPlan {
  /**
   * Each time this many more bytes have gone from the server to its client,
   * every open connection is cut, in the middle of whatever was being sent
   * (the part of the chunk before the cut point is forwarded, the rest is not).
   */
  cutEveryBytes: number;
  /** How many automatic cuts at most: then the proxy just forwards. */
  maxCuts: number;
  /** Default "reset". */
  mode?: CutMode;
}

export interface TcpFaultProxyOptions {
  /** host:port of the server role behind the proxy. */
  target: string;
  /** Automatic cuts from the start; without it the proxy forwards until arm() or cutAll(). */
  cuts?: CutPlan;
}

export interface TcpFaultProxyStats {
  /** Connections accepted from clients. */
  connections: number;
  /** Times every open connection was cut (automatically or by cutAll()). */
  cuts: number;
  /** Connections cut. */
  connectionsCut: number;
  /** Bytes from server to client, and from client to server. */
  bytesDown: number;
  bytesUp: number;
}

export interface TcpFaultProxy {
  /** host:port to point the client role at. */
  readonly address: string;
  readonly port: number;
  readonly stats: TcpFaultProxyStats;
  /** Starts a new series of automatic cuts, counted from the bytes sent so far. */
  arm(plan: CutPlan): void;
  /** Stops cutting. */
  disarm(): void;
  /** Cuts every open connection now; returns how many were cut. */
  cutAll(mode?: CutMode): number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Cut: nothing more is forwarded. */
  cut: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 between two roles: it forwards bytes both ways and
 * cuts all its connections mid-stream a bounded number of times. Cuts fall at
 * byte counts of the server's replies, so they land inside the code stream
 * whatever the timing.
 */
export async function startTcpFaultProxy(o: TcpFaultProxyOptions): Promise<TcpFaultProxy> {
  const target = parseAddress(o.target);
  const open = new Set<Pair>();
  const sockets = new Set<net.Socket>();
  const stats: TcpFaultProxyStats = { connections: 0, cuts: 0, connectionsCut: 0, bytesDown: 0, bytesUp: 0 };
  let plan: CutPlan | undefined;
  let cutsLeft = 0;
  let nextCutAt = Number.POSITIVE_INFINITY;

  function arm(p: CutPlan): void {
    plan = p;
    cutsLeft = p.maxCuts;
    nextCutAt = stats.bytesDown + p.cutEveryBytes;
  }
  function disarm(): void {
    plan = undefined;
    cutsLeft = 0;
    nextCutAt = Number.POSITIVE_INFINITY;
  }

  function cutAll(mode: CutMode = plan?.mode ?? "reset"): number {
    const n = open.size;
    stats.cuts += 1;
    stats.connectionsCut += n;
    for (const p of open) {
      p.cut = true;
      for (const s of [p.client, p.server]) {
        if (s.destroyed) continue;
        if (mode === "close") {
          s.resume(); // keep reading (and dropping) so the close stays a clean FIN
          s.end();
        } else {
          s.resetAndDestroy();
        }
      }
    }
    open.clear();
    return n;
  }

  /** Forwards `from` → `to` with backpressure; bytes going down count toward the cuts. */
  function pipe(pair: Pair, from: net.Socket, to: net.Socket, down: boolean): void {
    from.on("data", (chunk: Buffer) => {
      if (pair.cut || to.destroyed) return;
      if (down) {
        const before = stats.bytesDown;
        stats.bytesDown += chunk.length;
        if (cutsLeft > 0 && stats.bytesDown >= nextCutAt && plan !== undefined) {
          to.write(chunk.subarray(0, Math.max(0, nextCutAt - before)));
          cutsLeft -= 1;
          nextCutAt += plan.cutEveryBytes;
          cutAll(plan.mode);
          return;
        }
      } else {
        stats.bytesUp += chunk.length;
      }
      if (!to.write(chunk)) from.pause();
    });
    to.on("drain", () => {
      if (!pair.cut) from.resume();
    });
  }

  const server = net.createServer((client) => {
    stats.connections += 1;
    const upstream = net.connect(target.port, target.host);
    const pair: Pair = { client, server: upstream, cut: false };
    open.add(pair);
    const end = (): void => {
      open.delete(pair);
      // A cut connection's sockets close on their own (a "close" cut waits for each peer's FIN).
      if (pair.cut) return;
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("error", end);
      s.on("close", () => {
        sockets.delete(s);
        end();
      });
      // One side finished sending: pass the FIN on (or, once cut, just close).
      s.on("end", () => (pair.cut ? s.destroy() : (s === client ? upstream : client).end()));
    }
    pipe(pair, client, upstream, false);
    pipe(pair, upstream, client, true);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  if (o.cuts !== undefined) arm(o.cuts);
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    stats,
    arm,
    disarm,
    cutAll,
    async close() {
      disarm();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
