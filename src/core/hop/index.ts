/**
 * A forwarding hop (OMS, the Registrar): a role that asks the role below for
 * an order, keeps a record of it, fills its codes from below, serves them
 * above, and sends closes and cancels down. Each role configures it with what
 * is its own: names, statuses, the role below, its routes.
 */
export { endHopRecord, type HopBelow, type HopDeps, sendDown, streamHopBlocks } from "./hop-lifecycle.js";
export {
  type CreatedBelow,
  type EndKind,
  freshRecordOf,
  type HopRecordDoc,
  incompleteCreateReply,
  newHopRecord,
  type OrderRecordHeader,
  readinessOf,
} from "./hop-record.js";
export { HopRecords, type HopRecordsSpec } from "./hop-records.js";
export { buildHop, type Hop, type HopOptions, type HopRole } from "./hop-server.js";
