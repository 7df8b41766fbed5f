import type { Collection, CollectionOptions, Doc, IndexSpec, Store } from "../../src/store/store.js";

/**
 * A store that stops answering on demand (a database that hangs, not one that
 * fails): while stalled, every operation waits; resume() lets them all go on.
 */
export class StallingStore implements Store {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  constructor(private readonly inner: Store) {}

  stall(): void {
    this.gate ??= new Promise((resolve) => (this.open = resolve));
  }

  resume(): void {
    this.open?.();
    this.gate = undefined;
  }

  async collection<T extends Doc>(name: string, indexes?: readonly IndexSpec<T>[], options?: CollectionOptions): Promise<Collection<T>> {
    await this.gate;
    const c = await this.inner.collection<T>(name, indexes, options);
    const gated =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        while (this.gate !== undefined) await this.gate;
        return f(...args);
      };
    return {
      insertOne: gated(c.insertOne.bind(c)),
      insertMany: gated(c.insertMany.bind(c)),
      insertInOrder: gated(c.insertInOrder.bind(c)),
      findOne: gated(c.findOne.bind(c)),
      find: gated(c.find.bind(c)),
      count: gated(c.count.bind(c)),
      updateOne: gated(c.updateOne.bind(c)),
      deleteMany: gated(c.deleteMany.bind(c)),
    };
  }

  close(): Promise<void> {
    this.resume();
    return this.inner.close();
  }
}
