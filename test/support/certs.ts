import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate and its key, as files. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** A throwaway certificate authority in a temp dir, made with the openssl CLI. */
export interface TestCa {
  name: string;
  dir: string;
  caFile: string;
  /**
   * Issues a certificate with subject CN `cn`, signed by this CA, for
   * 127.0.0.1 and localhost (subjectAltName), usable both as a server and as
   * a client certificate: a mesh role serves it and presents it to the role below.
   */
  issue(cn: string): CertFiles;
  /** The environment that gives a role this CA and the certificate `cn` (mutual TLS). */
  roleEnv(cn: string): Record<string, string>;
  remove(): void;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Creates a CA (P-256 keys, valid two days) under a fresh temp dir; call remove() when done. */
export function createTestCa(name = "emission-mesh test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "emission-mesh-pki-"));
  const slug = name.replace(/[^A-Za-z0-9]+/g, "-");
  const caFile = join(dir, `${slug}.crt`);
  const caKey = join(dir, `${slug}.key`);
  openssl(
    dir,
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  const issued = new Map<string, CertFiles>();
  const issue = (cn: string): CertFiles => {
    const known = issued.get(cn);
    if (known !== undefined) return known;
    const base = join(dir, `${slug}.${cn.replace(/[^A-Za-z0-9]+/g, "-")}`);
    const files = { certFile: `${base}.crt`, keyFile: `${base}.key` };
    writeFileSync(
      `${base}.ext`,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "",
      ].join("\n"),
    );
    openssl(dir, "req", "-new", ...EC_KEY, "-keyout", files.keyFile, "-out", `${base}.csr`, "-subj", `/CN=${cn}`);
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${randomBytes(8).toString("hex")}`,
      "-days",
      "2",
      "-extfile",
      `${base}.ext`,
      "-out",
      files.certFile,
    );
    issued.set(cn, files);
    return files;
  };
  return {
    name,
    dir,
    caFile,
    issue,
    roleEnv(cn) {
      const { certFile, keyFile } = issue(cn);
      return { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CA_FILE: caFile };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
