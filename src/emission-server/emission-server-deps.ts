import type { BlockStore } from "../core/codes/index.js";
import type { Journal } from "../core/iotp/index.js";
import type { Notifier } from "../core/runtime/index.js";
import type { Emitter } from "./emitter.js";
import type { EmissionRecords } from "./emission-records.js";
import type { EmitterFaults } from "./emitter-faults.js";
import type { SigningKeys } from "./signing-keys.js";

/** What the Emission server's handlers work with. */
export interface EmissionServerDeps {
  db: EmissionRecords;
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
