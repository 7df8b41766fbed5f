import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, type Registry } from "prom-client";
import type { Address } from "../config.js";
import type { Logger } from "../runtime/index.js";

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the registry in Prometheus text format at GET /metrics on its own
 * HTTP/1.1 listener (METRICS_ADDR), apart from the gRPC port, so a scraper
 * needs neither HTTP/2 nor a token. The process's own metrics (CPU, memory,
 * event loop) come with it.
 */
export async function serveMetrics(registry: Registry, address: Address, log: Logger): Promise<MetricsServer> {
  collectDefaultMetrics({ register: registry });
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("metrics are at GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => {
        log.warn({ err }, "metrics scrape failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: address.host, port }, "metrics listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
