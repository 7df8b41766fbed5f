import { DuplicateKeyError, type Collection, type Doc } from "./store.js";

/** Inserts the document, or returns the one already stored under its _id. */
export async function insertOrLoad<T extends Doc>(c: Collection<T>, doc: T): Promise<T> {
  try {
    await c.insertOne(doc);
    return doc;
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
    const existing = await c.findOne({ _id: doc._id } as Parameters<Collection<T>["findOne"]>[0]);
    if (existing === undefined) throw err;
    return existing;
  }
}
