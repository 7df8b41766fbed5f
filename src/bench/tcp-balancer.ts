import net from "node:net";

/**
 * A TCP load balancer on 127.0.0.1 in front of several instances of one role
 * (for the tests and the chaos benchmark),
 * as a deployment would put one: each new connection goes to the next backend
 * that accepts it, so when an instance dies, reconnecting clients reach the
 * others.
 */
export async function startBalancer(backends: readonly string[]): Promise<{ address: string; stop(): Promise<void> }> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const connectAny = (tries: number, client: net.Socket): void => {
    const [host, port] = (backends[next++ % backends.length] ?? "").split(":");
    const upstream = net.connect(Number(port), host ?? "127.0.0.1");
    const refused = (): void => {
      upstream.destroy();
      if (tries > 1 && !client.destroyed) connectAny(tries - 1, client);
      else client.destroy();
    };
    upstream.once("error", refused);
    upstream.once("connect", () => {
      // Connected: from now on the two sockets live and die together.
      upstream.off("error", refused);
      upstream.on("error", () => upstream.destroy());
      sockets.add(upstream);
      upstream.once("close", () => client.destroy());
      client.once("close", () => upstream.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  };
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    connectAny(backends.length, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
