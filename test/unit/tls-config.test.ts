import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/core/config.js";
import { clientTlsOptions, loadTls, serverTlsOptions, TlsConfigError } from "../../src/core/rpc/tls.js";
import { createTestCa, type TestCa } from "../support/certs.js";

describe("TLS configuration", () => {
  let ca: TestCa;
  let other: TestCa;

  beforeAll(() => {
    ca = createTestCa("unit CA");
    other = createTestCa("other unit CA");
  });
  afterAll(() => {
    ca?.remove();
    other?.remove();
  });

  it("stays cleartext when no TLS variable is set (empty counts as unset)", () => {
    expect(loadConfig([], {}).tls).toBeUndefined();
    expect(loadConfig([], { TLS_CERT_FILE: "", TLS_KEY_FILE: "", TLS_CA_FILE: "" }).tls).toBeUndefined();
  });

  it("reads the certificate, key and CA once, into the config", () => {
    const c = loadConfig([], ca.roleEnv("oms"));
    const { certFile, keyFile } = ca.issue("oms");
    expect(c.tls?.cert).toBe(readFileSync(certFile, "utf8"));
    expect(c.tls?.key).toBe(readFileSync(keyFile, "utf8"));
    expect(c.tls?.ca).toBe(readFileSync(ca.caFile, "utf8"));
    expect(c.tls?.files).toEqual({ cert: certFile, key: keyFile, ca: ca.caFile });
  });

  it("serves TLS without client certificates when no CA is given, and requires them with one", () => {
    const { certFile, keyFile } = ca.issue("oms");
    const serverOnly = loadTls({ certFile, keyFile })!;
    expect(serverOnly.ca).toBeUndefined();
    expect(serverTlsOptions(serverOnly)).toMatchObject({
      requestCert: false,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
      allowHTTP1: false,
    });
    const mutual = loadTls({ certFile, keyFile, caFile: ca.caFile })!;
    expect(serverTlsOptions(mutual)).toMatchObject({ requestCert: true, rejectUnauthorized: true, ca: mutual.ca });
    expect(clientTlsOptions(mutual)).toMatchObject({ cert: mutual.cert, key: mutual.key, ca: mutual.ca, rejectUnauthorized: true });
    expect(clientTlsOptions({ ca: mutual.ca! })).not.toHaveProperty("cert");
  });

  it("refuses a certificate without its key, a key without its certificate, and a CA alone", () => {
    const { certFile, keyFile } = ca.issue("oms");
    expect(() => loadConfig([], { TLS_CERT_FILE: certFile })).toThrow(/TLS_CERT_FILE is set but TLS_KEY_FILE is not/);
    expect(() => loadConfig([], { TLS_CERT_FILE: certFile, TLS_CA_FILE: ca.caFile })).toThrow(/TLS_KEY_FILE is not/);
    expect(() => loadConfig([], { TLS_KEY_FILE: keyFile })).toThrow(/TLS_KEY_FILE is set but TLS_CERT_FILE is not/);
    expect(() => loadConfig([], { TLS_CA_FILE: ca.caFile })).toThrow(/TLS_CA_FILE is set but TLS_CERT_FILE and TLS_KEY_FILE are not/);
    expect(() => loadTls({ caFile: ca.caFile })).toThrow(TlsConfigError);
  });

  it("names the variable and the file it cannot read", () => {
    const { certFile, keyFile } = ca.issue("oms");
    const missing = join(ca.dir, "nowhere.crt");
    expect(() => loadConfig([], { TLS_CERT_FILE: missing, TLS_KEY_FILE: keyFile })).toThrow(
      `TLS_CERT_FILE ${missing}: cannot read the file (no such file)`,
    );
    expect(() => loadConfig([], { TLS_CERT_FILE: certFile, TLS_KEY_FILE: missing })).toThrow(
      `TLS_KEY_FILE ${missing}: cannot read the file (no such file)`,
    );
    expect(() => loadConfig([], { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CA_FILE: missing })).toThrow(
      `TLS_CA_FILE ${missing}: cannot read the file (no such file)`,
    );
    expect(() => loadConfig([], { TLS_CERT_FILE: ca.dir, TLS_KEY_FILE: keyFile })).toThrow(
      /TLS_CERT_FILE .*: cannot read the file \(it is a directory\)/,
    );
  });

  it("refuses files that are not PEM, a swapped certificate and key, and a key of another certificate", () => {
    const oms = ca.issue("oms");
    const registrar = ca.issue("registrar");
    const junk = join(ca.dir, "junk.pem");
    writeFileSync(junk, "not a certificate\n");
    expect(() => loadTls({ certFile: junk, keyFile: oms.keyFile })).toThrow(/TLS_CERT_FILE .*junk\.pem: not a PEM file/);
    expect(() => loadTls({ certFile: oms.certFile, keyFile: oms.keyFile, caFile: junk })).toThrow(
      /TLS_CA_FILE .*junk\.pem: not a PEM file/,
    );
    expect(() => loadTls({ certFile: oms.keyFile, keyFile: oms.certFile })).toThrow(/TLS_CERT_FILE .*: no readable PEM certificate/);
    expect(() => loadTls({ certFile: oms.certFile, keyFile: oms.certFile })).toThrow(
      /TLS_KEY_FILE .*: not a usable unencrypted PEM private key/,
    );
    expect(() => loadTls({ certFile: oms.certFile, keyFile: registrar.keyFile })).toThrow(
      `TLS_KEY_FILE ${registrar.keyFile} is not the private key of the certificate in TLS_CERT_FILE ${oms.certFile}`,
    );
  });
});
