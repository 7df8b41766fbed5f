import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureClientSessionOptions, SecureServerOptions } from "node:http2";
import type { PeerCertificate, TLSSocket } from "node:tls";

/** The TLS files of a process, as configured (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE). */
export interface TlsFiles {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
}

/**
 * A process's TLS material, read once at start-up. The certificate is both
 * served (server roles) and presented as the client certificate when the
 * process calls the role below.
 */
export interface TlsMaterial {
  /** PEM: this process's certificate (chain). */
  cert: string;
  /** PEM: its private key. */
  key: string;
  /**
   * PEM: the CA that signs peer certificates. A server with it requires and
   * verifies client certificates (mutual TLS); a client with it verifies the
   * server against it instead of the system roots.
   */
  ca?: string;
  /** The files the PEM came from, for logs and error messages. */
  files: { cert: string; key: string; ca?: string };
}

/** What a client needs to dial a TLS server: any subset (no cert = no client certificate). */
export interface ClientTls {
  cert?: string;
  key?: string;
  ca?: string;
}

/** A TLS setting that keeps a process from starting; its message names the variable and the file. */
export class TlsConfigError extends Error {
  override readonly name = "TlsConfigError";
}

const READ_ERRORS: Record<string, string> = { ENOENT: "no such file", EACCES: "permission denied", EISDIR: "it is a directory" };

function readPem(variable: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = READ_ERRORS[code ?? ""] ?? (err instanceof Error ? err.message : String(err));
    throw new TlsConfigError(`${variable} ${file}: cannot read the file (${reason})`);
  }
  if (!text.includes("-----BEGIN ")) throw new TlsConfigError(`${variable} ${file}: not a PEM file`);
  return text;
}

function certificateOf(variable: string, file: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsConfigError(
      `${variable} ${file}: no readable PEM certificate in it (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

function privateKeyOf(file: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsConfigError(
      `TLS_KEY_FILE ${file}: not a usable unencrypted PEM private key (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

/**
 * Reads and checks the TLS files: undefined when none is configured (the
 * process speaks cleartext h2c). A certificate needs its key and the other way
 * round; a CA alone is refused too, since this process would then serve
 * cleartext while dialing TLS. This is the only place TLS files are read.
 */
export function loadTls(f: TlsFiles): TlsMaterial | undefined {
  const { certFile, keyFile, caFile } = f;
  if (certFile === undefined && keyFile === undefined && caFile === undefined) return undefined;
  if (certFile === undefined && keyFile === undefined) {
    throw new TlsConfigError(
      "TLS_CA_FILE is set but TLS_CERT_FILE and TLS_KEY_FILE are not: TLS needs this process's own certificate and key too",
    );
  }
  if (keyFile === undefined) throw new TlsConfigError("TLS_CERT_FILE is set but TLS_KEY_FILE is not: a certificate needs its private key");
  if (certFile === undefined) throw new TlsConfigError("TLS_KEY_FILE is set but TLS_CERT_FILE is not: a private key needs its certificate");
  const cert = readPem("TLS_CERT_FILE", certFile);
  const key = readPem("TLS_KEY_FILE", keyFile);
  const x509 = certificateOf("TLS_CERT_FILE", certFile, cert);
  if (!x509.checkPrivateKey(privateKeyOf(keyFile, key))) {
    throw new TlsConfigError(`TLS_KEY_FILE ${keyFile} is not the private key of the certificate in TLS_CERT_FILE ${certFile}`);
  }
  if (caFile === undefined) return { cert, key, files: { cert: certFile, key: keyFile } };
  const ca = readPem("TLS_CA_FILE", caFile);
  certificateOf("TLS_CA_FILE", caFile, ca);
  return { cert, key, ca, files: { cert: certFile, key: keyFile, ca: caFile } };
}

/** True when a server with this material requires client certificates. */
export function isMutual(t: TlsMaterial): boolean {
  return t.ca !== undefined;
}

/** http2.createSecureServer options: h2 only (ALPN), client certificates required and verified when a CA is given. */
export function serverTlsOptions(t: TlsMaterial): SecureServerOptions {
  const mutual = isMutual(t);
  return {
    cert: t.cert,
    key: t.key,
    ...(t.ca === undefined ? {} : { ca: t.ca }),
    ALPNProtocols: ["h2"],
    allowHTTP1: false,
    requestCert: mutual,
    rejectUnauthorized: mutual,
  };
}

/** http2.connect options of a client dialing https://: verify the server (against `ca` if given), present `cert`/`key` if given. */
export function clientTlsOptions(t: ClientTls): SecureClientSessionOptions {
  return {
    ...(t.ca === undefined ? {} : { ca: t.ca }),
    ...(t.cert === undefined ? {} : { cert: t.cert }),
    ...(t.key === undefined ? {} : { key: t.key }),
    ALPNProtocols: ["h2"],
    rejectUnauthorized: true,
  };
}

/** The subject CN of the certificate a TLS peer presented, or "" when it presented none. */
export function peerCommonName(socket: TLSSocket): string {
  // No certificate: an empty object. Several CNs: an array.
  const cn = (socket.getPeerCertificate() as Partial<PeerCertificate>).subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn.join(",") : (cn ?? "");
}
