/**
 * The settler's hashing thread: the Merkle root of a batch's usage records (keccak256 of every
 * line, then of every pair) off the gateway's event loop, so a batch of thousands of records
 * does not stall the requests in flight. Keccak in WebAssembly once loaded (the same root).
 * Messages: { id, lines } → { id, root } | { id, error }.
 */
import { parentPort } from "node:worker_threads";
import { loadFastUsageHashing, usageRoot } from "../../sdk/credits/usageRecord.js";

const ready = loadFastUsageHashing();

parentPort?.on("message", async (m: { id: number; lines: string[] }) => {
  await ready;
  try {
    parentPort!.postMessage({ id: m.id, root: usageRoot(m.lines) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
