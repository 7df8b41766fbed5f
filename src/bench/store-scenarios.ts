import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { MongoClient } from "mongodb";
import { GS } from "../domain/code-format.js";
import { randomSerials } from "../domain/serial-generator.js";
import { startLocalFerretDb, waitForPing } from "../store/local-ferretdb.js";
import { peakRssMiB, resetPeakRss } from "./bench-mesh.js";
import type { BenchProcess } from "./relay/start-relay.js";
import { type BenchSizes, type Chain, largeOrdersAtOnce, type Throughput } from "./throughput-scenarios.js";

/** The FerretDB that `npm install` builds (scripts/install-tools.sh), from src/bench or dist/bench alike. */
const FERRETDB = fileURLToPath(new URL("../../.cache/tools/bin/ferretdb", import.meta.url));

export interface BenchMongo {
  uri: string;
  /** What it is, for the tables' titles. */
  label: string;
  stop(): Promise<void>;
}

/** The server of MONGODB_URI when set, else a FerretDB (SQLite backend) of the bench's own on loopback. */
export async function startBenchMongo(): Promise<BenchMongo> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== "") {
    await waitForPing(external);
    return { uri: external, label: "MongoDB at MONGODB_URI", stop: async () => undefined };
  }
  const local = await startLocalFerretDb(FERRETDB);
  return { uri: local.uri, label: "FerretDB (SQLite backend) on loopback", stop: () => local.stop() };
}

const BATCH = 1_000;

/**
 * (d) The database's own bulk-insert rate: insertMany of code-sized documents
 * (a serial key and a signed-code-length string, about what the mesh stores
 * per code) in batches of 1 000, one batch after another, as one client.
 */
export async function rawInsertRate(uri: string, docs: number): Promise<number> {
  const client = await MongoClient.connect(uri);
  const db = client.db(`bench-raw-${randomBytes(3).toString("hex")}`);
  try {
    const codes = db.collection<{ _id: string; code: string; orderId: string; seq: number }>("codes");
    const tail = "x".repeat(44);
    const gtin = "04600000000017";
    const batches = Array.from({ length: Math.ceil(docs / BATCH) }, (_, b) =>
      randomSerials(Math.min(BATCH, docs - b * BATCH), 13).map((serial) => ({
        _id: `${gtin}:${serial}`,
        code: `01${gtin}21${serial}${GS}91EK01${GS}92${tail}`,
        orderId: "raw",
        seq: b + 1,
      })),
    );
    const t0 = performance.now();
    for (const batch of batches) await codes.insertMany(batch);
    return docs / ((performance.now() - t0) / 1000);
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
}

/** Peak RSS (MiB) of each hop of a chain while large orders stream at once, and how far they got. */
export interface RssRun {
  peaks: Map<string, number>;
  run: Throughput;
  /** False where the kernel would not reset the high-water mark: the peaks then count from each process's start. */
  sinceReset: boolean;
}

/** (e) `rssOrders` orders of `rssOrder` codes streaming at once through a chain, until done or the deadline. */
export async function peakRssUnderLoad(chain: Chain, hops: readonly BenchProcess[], sizes: BenchSizes): Promise<RssRun> {
  const sinceReset = hops.map((h) => resetPeakRss(h.pid)).every(Boolean);
  const run = await largeOrdersAtOnce(chain, sizes.rssOrders, sizes.rssOrder, sizes.deadlineMs);
  return { peaks: new Map(hops.map((h) => [h.role, peakRssMiB(h.pid)])), run, sinceReset };
}
