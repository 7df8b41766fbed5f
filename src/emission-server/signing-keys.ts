/**
 * Where the Emission server's signing keys come from. EMISSION_KEYS, when
 * set, is the ring (the operator manages and rotates it). Otherwise the ring
 * lives in the server's own store, so it outlives the process on MongoDB and
 * every instance on one database signs and verifies with the same keys.
 */
import {
  createKeyRing,
  parseKeyRing,
  randomSigningKey,
  verifyCode,
  type KeyRing,
  type SigningKey,
  type Verification,
} from "../domain/crypto-tail.js";
import type { Logger } from "../core/runtime/index.js";
import { insertOrLoad } from "../store/insert-or-load.js";
import type { Collection, Store } from "../store/store.js";

/** One key of the stored ring. Generations only grow; the newest signs. */
export interface SigningKeyDoc {
  /** The generation, zero-padded so that _id order is generation order. */
  _id: string;
  keyId: string;
  /** Base64. The database holds the secrets: protect it as you would EMISSION_KEYS. */
  secret: string;
  createdAt: number;
}

export const SIGNING_KEYS_COLLECTION = "signing_keys";

/** How often a running instance re-reads the stored ring (to pick up a rotation made elsewhere). */
const REFRESH_MS = 5_000;

/** The ring codes are signed and verified with; a stored one follows rotations. */
export class SigningKeys {
  private current: KeyRing;
  private loading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    ring: KeyRing,
    private readonly docs: Collection<SigningKeyDoc> | undefined,
    private readonly log: Logger | undefined,
  ) {
    this.current = ring;
  }

  /** A ring that never changes (EMISSION_KEYS, or tests). */
  static fixed(ring: KeyRing): SigningKeys {
    return new SigningKeys(ring, undefined, undefined);
  }

  /** The store's ring; the first instance to open it creates its first key. */
  static async stored(store: Store, log?: Logger): Promise<SigningKeys> {
    const docs = await openSigningKeyDocs(store);
    const ring = await loadOrCreateRing(docs);
    log?.info({ keyIds: [...ring.keys.keys()], activeKeyId: ring.activeId }, "signing keys loaded from the store");
    return new SigningKeys(ring, docs, log);
  }

  get ring(): KeyRing {
    return this.current;
  }

  /**
   * Verifies with the ring, re-reading a stored ring first if the code names
   * a key it lacks (rotated by another instance). Concurrent re-reads share
   * one load, so a flood of made-up key ids costs one small read at a time.
   */
  async verify(code: string): Promise<Verification> {
    const v = verifyCode(this.current, code);
    if (v.valid || v.keyId === "" || this.current.keys.has(v.keyId) || this.docs === undefined) return v;
    await this.reload();
    return verifyCode(this.current, code);
  }

  /** Re-reads a stored ring now and then until stop(); a fixed ring needs nothing. */
  startRefreshing(ms = REFRESH_MS): void {
    if (this.docs === undefined || this.timer !== undefined) return;
    this.timer = setInterval(
      () => void this.reload().catch((err: unknown) => this.log?.warn({ err }, "re-reading the signing keys failed")),
      ms,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Loads the stored ring again (one load at a time); logs a new active key. */
  async reload(): Promise<void> {
    const docs = this.docs;
    if (docs === undefined) return;
    this.loading ??= (async () => {
      try {
        const ring = await loadOrCreateRing(docs);
        if (ring.activeId !== this.current.activeId)
          this.log?.info({ activeKeyId: ring.activeId }, "signing key rotated: new codes are signed with the new key");
        this.current = ring;
      } finally {
        this.loading = undefined;
      }
    })();
    await this.loading;
  }
}

/** EMISSION_KEYS when set, else the store's ring (warning when that store dies with the process). */
export async function openSigningKeys(o: {
  signingKeys: string;
  activeKeyId: string;
  store: Store;
  embedded: boolean;
  log: Logger;
}): Promise<SigningKeys> {
  if (o.signingKeys !== "") return SigningKeys.fixed(parseKeyRing(o.signingKeys, o.activeKeyId === "" ? undefined : o.activeKeyId));
  if (o.activeKeyId !== "")
    o.log.warn("EMISSION_ACTIVE_KEY is ignored without EMISSION_KEYS: the newest stored key signs (rotate with signing-keys-cli.js)");
  if (o.embedded) o.log.warn("EMISSION_KEYS is not set and the store is embedded: codes are signed with keys that die with this process");
  const keys = await SigningKeys.stored(o.store, o.log);
  keys.startRefreshing();
  return keys;
}

export function openSigningKeyDocs(store: Store): Promise<Collection<SigningKeyDoc>> {
  return store.collection<SigningKeyDoc>(SIGNING_KEYS_COLLECTION);
}

/**
 * Adds a new generation whose fresh key signs from now on; older keys keep
 * verifying. Two rotations at once make one new key (the generation's _id is
 * unique): both callers get the same ring.
 */
export async function rotateSigningKey(docs: Collection<SigningKeyDoc>): Promise<KeyRing> {
  await loadOrCreateRing(docs);
  const stored = await storedKeys(docs);
  const last = stored[stored.length - 1];
  const next = (last === undefined ? 0 : generationOf(last)) + 1;
  await insertOrLoad(docs, docOf(next, randomSigningKey(new Set(stored.map((d) => d.keyId)))));
  return ringOf(await storedKeys(docs));
}

/** The stored ring, creating its first key if there is none yet (the first instance wins). */
export async function loadOrCreateRing(docs: Collection<SigningKeyDoc>): Promise<KeyRing> {
  const stored = await storedKeys(docs);
  if (stored.length > 0) return ringOf(stored);
  await insertOrLoad(docs, docOf(1, randomSigningKey()));
  return ringOf(await storedKeys(docs));
}

function storedKeys(docs: Collection<SigningKeyDoc>): Promise<SigningKeyDoc[]> {
  return docs.find({}, { sort: { field: "_id", direction: 1 } });
}

/** The newest generation is active (createKeyRing's default: the last key). */
function ringOf(stored: readonly SigningKeyDoc[]): KeyRing {
  return createKeyRing(stored.map((d): SigningKey => ({ id: d.keyId, secret: new Uint8Array(Buffer.from(d.secret, "base64")) })));
}

const GENERATION_DIGITS = 8;

function docOf(generation: number, key: SigningKey): SigningKeyDoc {
  return {
    _id: String(generation).padStart(GENERATION_DIGITS, "0"),
    keyId: key.id,
    secret: Buffer.from(key.secret).toString("base64"),
    createdAt: Date.now(),
  };
}

function generationOf(doc: SigningKeyDoc): number {
  return Number.parseInt(doc._id, 10);
}
