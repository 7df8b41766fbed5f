import { type Transferable, Worker } from "node:worker_threads";

/** A task's input, and what of it moves to the worker instead of being copied. */
interface Task<I, O> {
  input: I;
  transfer: readonly Transferable[];
  resolve(out: O): void;
  reject(err: Error): void;
}

interface Slot<I, O> {
  worker: Worker;
  task: Task<I, O> | undefined;
  /** Failed or exited: gets no task while its replacement starts. */
  dead: boolean;
}

/** Why a task failed without its worker answering. */
export class WorkerPoolError extends Error {
  override name = "WorkerPoolError";
}

/**
 * A few worker threads running one script, each one task at a time: the
 * script answers every message it gets (parentPort) with one message, the
 * task's result. Tasks wait in order for a free worker. A worker that dies
 * (an uncaught error, process.exit) fails the task it held and is replaced,
 * so the pool keeps its size; closing fails every task still waiting or
 * running. Workers are unref'd: a pool left open never holds the process.
 */
export class WorkerPool<I, O> {
  private readonly slots: Slot<I, O>[] = [];
  private readonly queue: Task<I, O>[] = [];
  private closed = false;

  constructor(
    private readonly script: URL,
    size: number,
  ) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a worker pool needs at least one worker, got ${size}`);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs `input` on the next free worker; `transfer` lists buffers moved to it rather than copied. */
  run(input: I, transfer: readonly Transferable[] = []): Promise<O> {
    if (this.closed) return Promise.reject(new WorkerPoolError("the worker pool is closed"));
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, transfer, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every worker; tasks waiting or running fail with WorkerPoolError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const gone = new WorkerPoolError("the worker pool closed before the task ran");
    for (const task of this.queue.splice(0)) task.reject(gone);
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.task?.reject(new WorkerPoolError("the worker pool closed while the task ran"));
        slot.task = undefined;
        await slot.worker.terminate();
      }),
    );
  }

  private spawn(): Slot<I, O> {
    const worker = new Worker(this.script);
    worker.unref();
    const slot: Slot<I, O> = { worker, task: undefined, dead: false };
    worker.on("message", (out: O) => {
      const task = slot.task;
      slot.task = undefined;
      task?.resolve(out);
      this.dispatch();
    });
    // An error event is followed by exit: the task fails with the error, the worker is replaced on exit.
    worker.on("error", (err) => this.fail(slot, err));
    worker.on("exit", (code) => {
      this.fail(slot, new WorkerPoolError(`a worker exited with code ${code} while running a task`));
      if (this.closed) return;
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots[at] = this.spawn();
      this.dispatch();
    });
    return slot;
  }

  private fail(slot: Slot<I, O>, err: Error): void {
    slot.dead = true;
    const task = slot.task;
    slot.task = undefined;
    task?.reject(err);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.task !== undefined || slot.dead) continue;
      const task = this.queue.shift();
      if (task === undefined) return;
      slot.task = task;
      slot.worker.postMessage(task.input, [...task.transfer]);
    }
  }
}
