import type { Collection, Store } from "../store/store.js";

/** Step 18: an order as the line controller saved it. */
export interface ApcsOrderDoc {
  _id: string;
  productionOrderId: string;
  requestId: string;
  /** OrderStatus and BufferStatus as last seen through process 01.02.00.00. */
  status: number;
  bufferStatus: number;
  totalCodes: number;
  totalBlocks: number;
  /** Highest block stored here contiguously: where a cut stream resumes. */
  storedBlocks: number;
  storedCodes: number;
  createdAt: number;
  updatedAt: number;
  /** W3C traceparent of the placement: receiving the codes joins the order's trace, also after a restart. */
  traceparent?: string;
}

export async function openApcsOrders(store: Store): Promise<Collection<ApcsOrderDoc>> {
  return store.collection<ApcsOrderDoc>("orders");
}

/** A placement (CreateOrder) as the line sent it, kept so an unanswered one can be sent again unchanged. */
export interface PlacementDoc {
  /** The request id of the CreateOrder. */
  _id: string;
  /** Base64 of the OrderSpec as sent. */
  spec: string;
  state: "sending" | "placed" | "timed_out" | "failed" | "cancelled";
  orderId: string;
  updatedAt: number;
}

export async function openPlacements(store: Store): Promise<Collection<PlacementDoc>> {
  return store.collection<PlacementDoc>("placements", [{ fields: ["state"] }]);
}
