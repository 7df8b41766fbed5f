/**
 * Fault injection for tests: the emitter calls these at the points where a
 * crash must lose nothing and leave nothing behind. A hook that throws, never
 * returns or kills the process stands for the process dying there. Production
 * passes none.
 */
export interface EmitterFaults {
  /** Step 5 took the order's SELF_MADE serials and active slot; the order document (step 6) is not written yet. */
  orderReserved?(orderId: string): Promise<void> | void;
  /** A block's serials are fixed in its chunk document, not yet taken in the serial registry. */
  serialsFixed?(chunk: string): Promise<void> | void;
  /** The block's serials are in the registry; the block is not stored yet. */
  serialsTaken?(chunk: string): Promise<void> | void;
}
