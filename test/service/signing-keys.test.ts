import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { signCode } from "../../src/domain/crypto-tail.js";
import { runSigningKeysCommand, unmanagedReason } from "../../src/emission-server/signing-keys-cli.js";
import { openSigningKeyDocs, openSigningKeys, rotateSigningKey, SigningKeys } from "../../src/emission-server/signing-keys.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { onBothStores } from "../support/both-stores.js";
import { gtin } from "../support/orders.js";
import { EMISSION_KEYS, testConfig } from "../support/test-config.js";

const silent = pino({ level: "silent" });
const GTIN = gtin("0460000000001");

function sign(keys: SigningKeys, serial: string): string {
  return signCode(keys.ring, GTIN, serial, 44);
}

describe("SigningKeys kept in the Emission server's store", () => {
  onBothStores((open) => {
    it("creates one key on first opening, and a later opening (a restart, another instance) signs and verifies with it", async () => {
      const store = await open();
      const first = await SigningKeys.stored(store, silent);
      const second = await SigningKeys.stored(store, silent);
      expect(first.ring.keys.size).toBe(1);
      expect(second.ring.activeId).toBe(first.ring.activeId);
      expect((await second.verify(sign(first, "A1"))).valid).toBe(true);
      expect((await first.verify(sign(second, "A2"))).valid).toBe(true);
    });

    it("makes exactly one key when instances start at the same moment", async () => {
      const store = await open();
      const rings = await Promise.all([1, 2, 3].map(() => SigningKeys.stored(store, silent)));
      expect(new Set(rings.map((k) => k.ring.activeId)).size).toBe(1);
      expect(await (await openSigningKeyDocs(store)).count({})).toBe(1);
    });

    it("rotation: the new key signs, codes signed before still verify, and a running instance picks the new key up", async () => {
      const store = await open();
      const running = await SigningKeys.stored(store, silent);
      const before = sign(running, "B1");
      const rotated = await rotateSigningKey(await openSigningKeyDocs(store));
      expect(rotated.keys.size).toBe(2);
      expect(rotated.activeId).not.toBe(running.ring.activeId);
      const restarted = await SigningKeys.stored(store, silent);
      expect(restarted.ring.activeId).toBe(rotated.activeId);
      const after = sign(restarted, "B2");
      expect(after).toContain(rotated.activeId);
      expect((await restarted.verify(before)).valid).toBe(true);
      // The instance that started before the rotation verifies the new key's codes (it re-reads the ring)...
      expect((await running.verify(after)).valid).toBe(true);
      // ...and signs with it once it has re-read the ring.
      await running.reload();
      expect(running.ring.activeId).toBe(rotated.activeId);
    });

    it("a running instance signs with a key rotated elsewhere once it re-reads the ring", async () => {
      const store = await open();
      const running = await SigningKeys.stored(store, silent);
      running.startRefreshing(20);
      try {
        const rotated = await rotateSigningKey(await openSigningKeyDocs(store));
        await vi.waitFor(() => expect(running.ring.activeId).toBe(rotated.activeId), { timeout: 10_000, interval: 20 });
        expect(sign(running, "C1")).toContain(rotated.activeId);
      } finally {
        running.stop();
      }
    });

    it("answers list and rotate with key ids only, never a secret", async () => {
      const store = await open();
      const listed = await runSigningKeysCommand("list", store);
      const rotated = await runSigningKeysCommand("rotate", store);
      expect(rotated.keyIds).toEqual([...listed.keyIds, rotated.activeKeyId]);
      const secrets = (await (await openSigningKeyDocs(store)).find({})).map((d) => d.secret);
      for (const secret of secrets) expect(JSON.stringify(rotated)).not.toContain(secret);
      await expect(runSigningKeysCommand("drop", store)).rejects.toThrow(/usage/);
    });
  });
});

describe("openSigningKeys", () => {
  it("uses EMISSION_KEYS as given and stores nothing", async () => {
    const store = new MemoryStore();
    const keys = await openSigningKeys({ signingKeys: EMISSION_KEYS, activeKeyId: "", store, embedded: false, log: silent });
    expect(keys.ring.activeId).toBe("EK01");
    expect(await (await openSigningKeyDocs(store)).count({})).toBe(0);
  });

  it("warns that the keys die with the process only on the embedded store", async () => {
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
    const keys = await openSigningKeys({ signingKeys: "", activeKeyId: "", store: new MemoryStore(), embedded: true, log });
    keys.stop();
    expect(warnings.join("")).toMatch(/EMISSION_KEYS is not set and the store is embedded/);
    warnings.length = 0;
    (await openSigningKeys({ signingKeys: "", activeKeyId: "", store: new MemoryStore(), embedded: false, log })).stop();
    expect(warnings).toEqual([]);
  });

  it("the operator command refuses to manage keys given by EMISSION_KEYS or kept by the embedded store", () => {
    expect(unmanagedReason(testConfig())).toMatch(/EMISSION_KEYS is set/);
    expect(unmanagedReason(testConfig({ EMISSION_KEYS: "" }))).toMatch(/MONGODB_URI is not set/);
    expect(unmanagedReason(testConfig({ EMISSION_KEYS: "", MONGODB_URI: "mongodb://127.0.0.1:1/" }))).toBeUndefined();
  });
});
