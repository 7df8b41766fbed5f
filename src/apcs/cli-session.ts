import { createClient, type Client } from "@connectrpc/connect";
import { createDownstreamTransport, downstreamSessions, downstreamUrl } from "../core/process/index.js";
import { loadTls } from "../core/rpc/index.js";
import { pino } from "pino";
import { MAX_MESSAGE_BYTES, parseAddress } from "../core/config.js";
import { JournalService } from "../gen/emission/journal/v1/journal_pb.js";
import { MemoryStore } from "../store/memory-store.js";
import { Apcs } from "./apcs-client.js";
import type { CliIo } from "./cli-io.js";

/** Options every command takes. */
export interface GlobalOptions {
  oms: string;
  token: string;
  timeout: number;
  json: boolean;
  verbose: boolean;
}

/** One CLI run's connection to OMS. */
export interface Session {
  apcs: Apcs;
  journal: Client<typeof JournalService>;
  timeoutMs: number;
  close(): Promise<void>;
}

export async function openSession(g: GlobalOptions, io: CliIo): Promise<Session> {
  const log = pino(
    { level: g.verbose ? "info" : "silent", base: { role: "apcs-cli" } },
    { write: (line: string) => void io.stderr.write(line) },
  );
  const address = parseAddress(g.oms);
  // The same TLS_CERT_FILE / TLS_KEY_FILE / TLS_CA_FILE as the roles: an OMS serving TLS needs them.
  const tls = loadTls({ certFile: io.env.TLS_CERT_FILE, keyFile: io.env.TLS_KEY_FILE, caFile: io.env.TLS_CA_FILE });
  // Our own session manager, so the connection is closed when the command ends
  // instead of keeping the process alive with keep-alive pings.
  const http2 = downstreamSessions(downstreamUrl(address, tls), tls);
  const transport = createDownstreamTransport({ address, token: g.token, maxMessageBytes: MAX_MESSAGE_BYTES, sessionManager: http2, tls });
  const store = new MemoryStore();
  // The CLI's store for codes is the --out file, written block by block: keeping
  // them in memory too would hold up to 1.5 M codes for nothing.
  const apcs = await Apcs.open({ transport, log, store, callTimeoutMs: g.timeout, storeCodes: false });
  return {
    apcs,
    journal: createClient(JournalService, transport),
    timeoutMs: g.timeout,
    async close() {
      await apcs.close();
      await store.close();
      http2.abort();
    },
  };
}
