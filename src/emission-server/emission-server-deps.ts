import type { BlockStore } from "../core/block-store.js";
import type { Journal } from "../core/journal.js";
import type { Notifier } from "../core/notifier.js";
import type { Emitter } from "./emitter.js";
import type { EmitterFaults } from "./emitter-faults.js";
import type { EmissionCollections } from "./emission-orders.js";
import type { SigningKeys } from "./signing-keys.js";

/** What the Emission server's handlers work with. */
export interface EmissionServerDeps {
  db: EmissionCollections;
  blocks: BlockStore;
  notifier: Notifier;
  emitter: Emitter;
  journal: Journal;
  keys: SigningKeys;
  blockSize: number;
  maxActiveOrders: number;
  recheckMs: number;
  /** Tests only: where to stop as if the process died. */
  faults?: EmitterFaults;
}
