import { MemoryStore } from "../../src/store/memory-store.js";
import type { Store } from "../../src/store/store.js";
import { storeContract } from "./store-contract.js";

storeContract("MemoryStore", async () => {
  const store = new MemoryStore();
  return { store, close: () => store.close() };
});

// Bulk collections keep their documents in a key table, sharing rows (key-table.ts, shared-row.ts): the same rules hold.
storeContract("MemoryStore, every collection bulk", async () => {
  const memory = new MemoryStore();
  const store: Store = {
    collection: (name, indexes, options) => memory.collection(name, indexes, { ...options, bulk: true }),
    close: () => memory.close(),
  };
  return { store, close: () => store.close() };
});
