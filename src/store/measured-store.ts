import type { Collection, CollectionOptions, Doc, IndexSpec, Store } from "./store.js";
import { DuplicateKeyError } from "./store.js";

/** Told of every store operation: how long it took and whether it failed. */
export type StoreObserver = (collection: string, operation: keyof Collection<Doc>, seconds: number, failed: boolean) => void;

const OPERATIONS = ["insertOne", "insertMany", "insertInOrder", "findOne", "find", "count", "updateOne", "deleteMany"] as const;

/**
 * The store with every collection operation timed and reported. A proxy,
 * not a wrapper class, so what the store is (`instanceof MemoryStore`)
 * stays true for code that asks.
 */
export function measuredStore(store: Store, observe: StoreObserver): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "collection") return Reflect.get(target, prop, receiver) as unknown;
      return async <T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions) =>
        measured(await target.collection<T>(name, indexes, options), name, observe);
    },
  });
}

function measured<T extends Doc>(c: Collection<T>, name: string, observe: StoreObserver): Collection<T> {
  const out = {} as Record<string, unknown>;
  for (const op of OPERATIONS) {
    const call = (c[op] as (...args: unknown[]) => Promise<unknown>).bind(c);
    out[op] = async (...args: unknown[]) => {
      const start = performance.now();
      try {
        const result = await call(...args);
        observe(name, op, (performance.now() - start) / 1000, false);
        return result;
      } catch (err) {
        observe(name, op, (performance.now() - start) / 1000, !(err instanceof DuplicateKeyError));
        throw err;
      }
    };
  }
  return out as unknown as Collection<T>;
}
