// A WorkerPool script for tests: doubles `value`, or dies, throws or never answers when told to.
import { parentPort } from "node:worker_threads";

parentPort?.on("message", (m) => {
  if (m.op === "exit") process.exit(3);
  if (m.op === "throw") throw new Error(`told to throw at ${m.value}`);
  if (m.op === "hang") return;
  setTimeout(() => parentPort?.postMessage({ doubled: m.value * 2, thread: m.thread }), m.delayMs ?? 0);
});
