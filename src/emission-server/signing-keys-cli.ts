#!/usr/bin/env node
/**
 * Operator command for the signing keys the Emission server keeps in its
 * MongoDB database (when EMISSION_KEYS is not set):
 *
 *   node dist/emission-server/signing-keys-cli.js list
 *   node dist/emission-server/signing-keys-cli.js rotate
 *
 * `rotate` adds a new active key: running instances sign with it within a
 * few seconds (they re-read the ring), and the older keys keep verifying the
 * codes they signed. Prints key ids only, never a secret.
 */
import { loadConfig, type MeshConfig } from "../core/config.js";
import { isMain } from "../core/process/index.js";
import type { KeyRing } from "../domain/crypto-tail.js";
import { MongoStore } from "../store/mongo-store.js";
import type { Store } from "../store/store.js";
import { ROLE } from "./server.js";
import { loadOrCreateRing, openSigningKeyDocs, rotateSigningKey } from "./signing-keys.js";

export const USAGE = "usage: signing-keys-cli.js list | rotate   (MONGODB_URI and MONGODB_DATABASE_PREFIX as for the Emission server)";

/** Runs `list` or `rotate` on the store; the answer is the ring's key ids. */
export async function runSigningKeysCommand(command: string, store: Store): Promise<{ activeKeyId: string; keyIds: string[] }> {
  const docs = await openSigningKeyDocs(store);
  let ring: KeyRing;
  if (command === "rotate") ring = await rotateSigningKey(docs);
  else if (command === "list") ring = await loadOrCreateRing(docs);
  else throw new Error(USAGE);
  return { activeKeyId: ring.activeId, keyIds: [...ring.keys.keys()] };
}

/** Why this configuration has no stored ring to manage, or undefined. */
export function unmanagedReason(config: MeshConfig): string | undefined {
  if (config.emissionServer.signingKeys !== "")
    return "EMISSION_KEYS is set: the Emission server uses those keys; rotate by listing a new key there and setting EMISSION_ACTIVE_KEY";
  if (config.mongodb === undefined)
    return "MONGODB_URI is not set: the embedded store keeps its keys inside the server process, there is nothing to manage";
  return undefined;
}

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = argv[0] ?? "";
  if (command !== "list" && command !== "rotate") {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig([], env);
  const why = unmanagedReason(config);
  if (why !== undefined || config.mongodb === undefined) {
    process.stderr.write(`${why ?? ""}\n`);
    return 1;
  }
  const store = await MongoStore.connect(config.mongodb.uri, `${config.mongodb.databasePrefix}${ROLE}`);
  try {
    process.stdout.write(`${JSON.stringify(await runSigningKeysCommand(command, store))}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`signing keys: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
