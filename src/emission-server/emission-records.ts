import type { Store } from "../store/store.js";
import { EmissionOrders } from "./emission-order-records.js";
import { type EmissionCollections, openEmissionCollections } from "./emission-orders.js";
import { OrderIntents } from "./order-intents.js";
import { ActiveSlots, SerialRegistry } from "./serial-registry.js";

/** The Emission server's records, each behind its repository. */
export interface EmissionRecords {
  orders: EmissionOrders;
  serials: SerialRegistry;
  slots: ActiveSlots;
  intents: OrderIntents;
}

export function emissionRecords(db: EmissionCollections): EmissionRecords {
  return {
    orders: new EmissionOrders(db.orders),
    serials: new SerialRegistry(db),
    slots: new ActiveSlots(db.slots),
    intents: new OrderIntents(db.intents),
  };
}

export async function openEmissionRecords(store: Store): Promise<EmissionRecords> {
  return emissionRecords(await openEmissionCollections(store));
}
