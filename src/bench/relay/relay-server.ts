import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { Command, Option } from "commander";
import { randomKeyRing } from "../../domain/crypto-tail.js";
import { relayEmitterRoutes } from "./relay-emitter.js";
import { relayOmsRoutes, relayRegistrarRoutes } from "./relay-forwarders.js";

/**
 * One hop of the bare three-hop relay: the yardstick `npm run bench` holds
 * the mesh against, not a service. It serves the same contracts (OMS,
 * Registrar, Emission server) with connect-node and nothing else: no store,
 * no deduplication, no journal, no auth, no validation, no retries, no
 * tracing or metrics. Each call goes one hop down; the bottom makes codes in
 * the same format with the same HMAC signing (src/domain). What the mesh
 * does beyond this is what the comparison measures, so keep it bare.
 *
 *   node dist/bench/relay/relay-server.js --role oms --listen 127.0.0.1:0 --below 127.0.0.1:<registrar port>
 *
 * It prints one JSON line {"msg":"listening","host":…,"port":…} once it listens.
 */
export type RelayRole = "oms" | "registrar" | "emission-server";

function routesOf(role: RelayRole, below: string | undefined): (router: ConnectRouter) => void {
  if (role === "emission-server") return relayEmitterRoutes(randomKeyRing());
  if (below === undefined) throw new Error(`the relay's ${role} needs --below <host:port>`);
  const transport = createGrpcTransport({ baseUrl: `http://${below}` });
  return role === "oms" ? relayOmsRoutes(transport) : relayRegistrarRoutes(transport);
}

function main(): void {
  const o = new Command()
    .addOption(new Option("--role <role>", "which hop").choices(["oms", "registrar", "emission-server"]).makeOptionMandatory())
    .option("--listen <host:port>", "where to listen", "127.0.0.1:0")
    .option("--below <host:port>", "the hop below (not for the emission-server)")
    .parse()
    .opts<{ role: RelayRole; listen: string; below?: string }>();
  const colon = o.listen.lastIndexOf(":");
  const host = o.listen.slice(0, colon);
  // The same session memory as the mesh's servers (grpc-server.ts): many streams on one connection are not refused sooner.
  const server = http2.createServer({ maxSessionMemory: 32 }, connectNodeAdapter({ routes: routesOf(o.role, o.below) }));
  server.listen(Number(o.listen.slice(colon + 1)), host, () => {
    const { port } = server.address() as AddressInfo;
    console.log(JSON.stringify({ msg: "listening", role: o.role, host, port }));
  });
  const stop = (): void => {
    server.close();
    // Open streams (a WatchOrder held open) would keep it up: nothing here needs a graceful end.
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main();
