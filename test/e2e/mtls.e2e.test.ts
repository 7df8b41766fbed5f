import { Code, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Apcs } from "../../src/apcs/apcs-client.js";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { startRoleProcess, type RoleProcess, type ServerRole } from "../../src/core/process/role-process.js";
import { loadTls, type ClientTls, type TlsMaterial } from "../../src/core/rpc/tls.js";
import { OrderStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { JournalService } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { createTestCa, type TestCa } from "../support/certs.js";
import { milkOrder } from "../support/orders.js";
import { TEST_ENV, TOKENS } from "../support/test-config.js";
import { rejection } from "../support/rejection.js";

const silent = pino({ level: "silent" });
const MAX = 64 * 1024 * 1024;

/** A role process and every JSON log line it wrote. */
interface Logged {
  p: RoleProcess;
  logs: Array<Record<string, unknown>>;
}

/** Like test/support/processes.ts startRole, keeping the role's logs (peer certificates, refused handshakes). */
async function startLogged(role: ServerRole, env: Record<string, string>): Promise<Logged> {
  const logs: Array<Record<string, unknown>> = [];
  const p = await startRoleProcess(role, {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, LOG_LEVEL: "info", ...env },
    listen: "127.0.0.1:0",
    onLine: (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    },
  });
  return { p, logs };
}

function transport(p: RoleProcess, token: string, tls?: ClientTls) {
  return createDownstreamTransport({
    address: parseAddress(p.address),
    token,
    maxMessageBytes: MAX,
    ...(tls === undefined ? {} : { tls }),
  });
}

/** Waits for a log line (the server may log a refused handshake just after the client gave up). */
async function logged(r: Logged, match: (line: Record<string, unknown>) => boolean, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = r.logs.find(match);
    if (line !== undefined) return line;
    if (Date.now() > until) throw new Error(`no such log line in ${JSON.stringify(r.logs)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the mesh with mutual TLS on every link", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let emission: Logged;
  let registrar: Logged;
  let oms: Logged;
  /** The line controller's certificate, with the mesh CA. */
  let line: TlsMaterial;
  let apcs: Apcs;

  beforeAll(async () => {
    ca = createTestCa("mesh test CA");
    otherCa = createTestCa("other test CA");
    // Each role serves its certificate and presents it to the role below.
    emission = await startLogged("emission-server", { ...ca.roleEnv("emission-server"), EMISSION_RATE: "500000" });
    registrar = await startLogged("registrar", { ...ca.roleEnv("registrar"), EMISSION_SERVER_ADDR: emission.p.address });
    oms = await startLogged("oms", { ...ca.roleEnv("oms"), REGISTRAR_ADDR: registrar.p.address });
    const apcsCert = ca.issue("apcs-line-1");
    line = loadTls({ ...apcsCert, caFile: ca.caFile })!;
    apcs = await Apcs.open({ transport: transport(oms.p, TOKENS.apcs, line), log: silent, callTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await apcs?.close();
    await Promise.all([oms?.p.stop(), registrar?.p.stop(), emission?.p.stop()]);
    ca?.remove();
    otherCa?.remove();
  });

  it("says so when it starts listening", () => {
    for (const r of [emission, registrar, oms]) expect(r.logs.find((l) => l.msg === "listening")?.tls).toBe("mutual");
  });

  it("runs an order from the line to the Emission server and every code back, over TLS on each hop", async () => {
    const order = await apcs.placeOrder(milkOrder(20_000));
    let received = 0;
    const saved = await apcs.receiveCodes(order.orderId, {
      onBlock: (b) => {
        received += b.codes.length;
      },
    });
    expect(received).toBe(20_000);
    expect(saved.storedCodes).toBe(20_000);
    expect((await apcs.closeOrder(order.orderId)).status).toBe(OrderStatus.CLOSED);

    // Each server saw the certificate of the role above it.
    const peer = (cn: string) => (l: Record<string, unknown>) => l.msg === "tls peer connected" && l.peer === cn;
    await logged(oms, peer("apcs-line-1"));
    await logged(registrar, peer("oms"));
    await logged(emission, peer("registrar"));
  });

  it("still authenticates the caller by its bearer token: a good certificate with a bad token is UNAUTHENTICATED", async () => {
    const omsCert = loadTls({ ...ca.issue("oms"), caFile: ca.caFile })!;
    const good = await createClient(JournalService, transport(registrar.p, TOKENS.admin, omsCert)).listJournal({});
    expect(good.entries).toBeDefined();
    const err = await rejection(createClient(JournalService, transport(registrar.p, "not-a-token", omsCert)).listJournal({}));
    expect(err.code).toBe(Code.Unauthenticated);
  });

  it("refuses a client without a client certificate, at every role", async () => {
    for (const r of [oms, registrar, emission]) {
      const err = await rejection(
        createClient(JournalService, transport(r.p, TOKENS.admin, { ca: line.ca! })).listJournal({}, { timeoutMs: 5_000 }),
      );
      expect(err.rawMessage).toMatch(/certificate required/);
      await logged(r, (l) => l.msg === "tls handshake failed" && /did not return a certificate/.test(String(l.reason)));
    }
  });

  it("refuses a client certificate signed by another CA", async () => {
    const stranger = loadTls({ ...otherCa.issue("oms"), caFile: ca.caFile })!;
    // The token is good: only the certificate stands in the way. The server
    // verifies it after the handshake and drops the connection, which the
    // client sees as lost (UNAVAILABLE) or reset, whichever comes first.
    await rejection(createClient(JournalService, transport(registrar.p, TOKENS.oms, stranger)).listJournal({}, { timeoutMs: 5_000 }));
    await logged(
      registrar,
      (l) =>
        l.msg === "tls handshake failed" &&
        /client certificate refused: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT)/.test(String(l.reason)),
    );
  });

  it("refuses a cleartext h2c client", async () => {
    // A good token again; the HTTP/2 preface is not a TLS hello.
    await rejection(createClient(JournalService, transport(emission.p, TOKENS.registrar)).listJournal({}, { timeoutMs: 5_000 }));
    await logged(emission, (l) => l.msg === "tls handshake failed" && /wrong version number/.test(String(l.reason)));
  });

  it("does not talk to a server whose certificate its CA did not sign", async () => {
    const distrustful = loadTls({ ...ca.issue("oms"), caFile: otherCa.caFile })!;
    const err = await rejection(
      createClient(JournalService, transport(registrar.p, TOKENS.oms, distrustful)).listJournal({}, { timeoutMs: 5_000 }),
    );
    // The server sends its chain up to the mesh CA, which this client does not trust.
    expect(err.rawMessage).toMatch(/self-signed certificate in certificate chain|unable to verify the first certificate/);
  });
});
