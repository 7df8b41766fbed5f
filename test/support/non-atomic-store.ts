import type { Collection, Doc, Filter, Store, Update } from "../../src/store/store.js";

/**
 * What FerretDB 1.x does with a conditional update: a read, then, after a
 * while, a write by `_id` alone; two processes can both see the old state
 * and both write.
 */
export function nonAtomic<T extends Doc>(docs: Collection<T>): Collection<T> {
  return {
    insertOne: (doc) => docs.insertOne(doc),
    insertMany: (many) => docs.insertMany(many),
    insertInOrder: (many) => docs.insertInOrder(many),
    findOne: (filter) => docs.findOne(filter),
    find: (filter, options) => docs.find(filter, options),
    count: (filter) => docs.count(filter),
    deleteMany: (filter) => docs.deleteMany(filter),
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
  return {
    collection: async (name, indexes) => nonAtomic(await store.collection(name, indexes)),
    close: () => store.close(),
  };
}
