import type { Collection, Doc, Filter, Store, Update } from "../../src/store/store.js";

/** A collection that passes every operation to `c`: spread it and override what a test changes. */
export function forwarding<T extends Doc>(c: Collection<T>): Collection<T> {
  return {
    insertOne: (doc) => c.insertOne(doc),
    insertMany: (docs) => c.insertMany(docs),
    insertInOrder: (docs) => c.insertInOrder(docs),
    findOne: (filter) => c.findOne(filter),
    find: (filter, options) => c.find(filter, options),
    count: (filter) => c.count(filter),
    updateOne: (filter, update) => c.updateOne(filter, update),
    deleteMany: (filter) => c.deleteMany(filter),
  };
}

/** `store` with each collection wrapped by `wrap`. */
export function wrappedStore(store: Store, wrap: <T extends Doc>(c: Collection<T>) => Collection<T>): Store {
  return {
    collection: async (name, indexes, options) => wrap(await store.collection(name, indexes, options)),
    close: () => store.close(),
  };
}

/**
 * What FerretDB 1.x does with a conditional update: a read, then, after a
 * while, a write by `_id` alone; two processes can both see the old state
 * and both write.
 */
export function nonAtomic<T extends Doc>(docs: Collection<T>): Collection<T> {
  return {
    ...forwarding(docs),
    async updateOne(filter: Filter<T>, update: Update<T>) {
      const seen = await docs.findOne(filter);
      if (seen === undefined) return undefined;
      await new Promise((r) => setTimeout(r, 5));
      return docs.updateOne({ _id: seen._id } as Filter<T>, update);
    },
  };
}

/** A store whose every collection updates as nonAtomic() does. */
export function nonAtomicStore(store: Store): Store {
  return wrappedStore(store, nonAtomic);
}
