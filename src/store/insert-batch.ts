import { type Collection as MongoCollection, type Document, MongoBulkWriteError } from "mongodb";
import { DuplicateKeyError } from "./store.js";

/** One document's insert, settled when the batch carrying it lands. */
interface Waiting {
  doc: Document;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Most documents one insertMany carries: a batch forms only while the
 * database's writer is busy, and the largest documents inserted one at a
 * time (a hop's stored code block, about 50 KiB for 1 000 codes) keep a full
 * batch a few MiB.
 */
export const MAX_INSERT_BATCH = 64;

/**
 * Single-document inserts into one collection that arrive while the earlier
 * ones wait for a turn at the database (WriteGate) go together, as one
 * unordered insertMany: on FerretDB's SQLite backend each write is a
 * transaction of its own, committed by the database's one writer, so forty
 * claims arriving at once cost forty commits one after another. An insert
 * that finds the gate free goes at once, alone, as before: a batch costs no
 * wait, it only forms behind one. Each insert still succeeds or fails on its
 * own: a duplicate key refuses that document only (the first of two with one
 * key wins, as one after the other), any other failure every document of
 * the batch, none of which is then known to be stored or not (as for one).
 */
export class InsertBatch {
  /** The batch waiting for its turn, open to more documents until it starts. */
  private waiting: Waiting[] | undefined;

  constructor(
    private readonly name: string,
    private readonly c: MongoCollection,
    /** Runs a write in its turn at the database. */
    private readonly turn: (write: () => Promise<void>) => Promise<void>,
  ) {}

  insert(doc: Document): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const joined = this.waiting;
      if (joined !== undefined && joined.length < MAX_INSERT_BATCH) {
        joined.push({ doc, resolve, reject });
        return;
      }
      const batch: Waiting[] = [{ doc, resolve, reject }];
      this.waiting = batch;
      this.turn(async () => {
        // Its turn came: closed to later inserts, which start the next batch.
        if (this.waiting === batch) this.waiting = undefined;
        await this.send(batch);
      }).catch((err: unknown) => {
        if (this.waiting === batch) this.waiting = undefined;
        for (const w of batch) w.reject(err);
      });
    });
  }

  private async send(batch: readonly Waiting[]): Promise<void> {
    try {
      await this.c.insertMany(
        batch.map((w) => w.doc),
        { ordered: false },
      );
    } catch (err) {
      const duplicates = duplicatesOf(err);
      if (duplicates === undefined) throw err;
      batch.forEach((w, i) => {
        const refused = duplicates.get(i);
        if (refused === undefined) w.resolve();
        else w.reject(new DuplicateKeyError(this.name, refused));
      });
      return;
    }
    for (const w of batch) w.resolve();
  }
}

/** The documents (by index) an unordered insertMany refused for a duplicate key, with why; undefined if it failed otherwise. */
export function duplicatesOf(err: unknown): Map<number, string> | undefined {
  if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError() !== undefined) return undefined;
  const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (writeErrors.length === 0 || !writeErrors.every((w) => isDuplicateKey(w.code, w.errmsg))) return undefined;
  return new Map(writeErrors.map((w) => [w.index, w.errmsg ?? "duplicate key"]));
}

/**
 * MongoDB reports code 11000 (11001 from old servers); FerretDB's SQLite
 * backend reports a unique-index violation of an update as code 1 with
 * SQLite's own message.
 */
export function isDuplicateKey(code: number | string | undefined, message: string | undefined): boolean {
  return code === 11000 || code === 11001 || /E11000|UNIQUE constraint failed/.test(message ?? "");
}
