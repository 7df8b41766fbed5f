/**
 * Runs the tasks of one document one at a time, in order, and those of
 * different documents at once. A task for no one document (`key` undefined)
 * runs alone: after every task before it, and before every task after it.
 */
export class DocumentLanes {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** The last task for no one document, settled or not. */
  private barrier: Promise<unknown> = Promise.resolve();

  run<R>(key: string | undefined, task: () => Promise<R>): Promise<R> {
    const before = key === undefined ? [this.barrier, ...this.tails.values()] : [this.barrier, this.tails.get(key)];
    const result = Promise.all(before).then(task, task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    if (key === undefined) {
      this.barrier = settled;
      return result;
    }
    this.tails.set(key, settled);
    // An idle document's lane is forgotten: the map holds only documents being updated.
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return result;
  }

  /** Documents with a task queued or running (for tests). */
  get busy(): number {
    return this.tails.size;
  }
}
