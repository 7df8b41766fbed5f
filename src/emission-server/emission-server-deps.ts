import type { BlockStore } from "../core/block-store.js";
import type { Journal } from "../core/journal.js";
import type { Notifier } from "../core/notifier.js";
import type { KeyRing } from "../domain/crypto-tail.js";
import type { Emitter } from "./emitter.js";
import type { EmissionCollections } from "./emission-orders.js";

/** What the Emission server's handlers work with. */
export interface EmissionServerDeps {
  db: EmissionCollections;
  blocks: BlockStore;
  notifier: Notifier;
  emitter: Emitter;
  journal: Journal;
  keys: KeyRing;
  blockSize: number;
  maxActiveOrders: number;
  recheckMs: number;
}
