/**
 * `redeemer/main.ts` with its modules loaded ahead of time: loads the redeemer and the executor its
 * configuration names, then waits for a line on stdin before running main (same arguments, same
 * behaviour from there). Crash drills keep these warm as the next redeemers, so that a restart
 * costs the redeemer's own start-up (the rebuild from chain and executor), not module loading.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" } }, strict: false });
  const kind = typeof values.config === "string" ? (JSON.parse(readFileSync(values.config, "utf8")) as { executor?: { kind?: string } }).executor?.kind : undefined;
  await Promise.all([
    import("../../../redeemer/index.js"),
    kind === "kubernetes"
      ? Promise.all([import("../../../redeemer/executor/kubernetes/index.js"), import("@kubernetes/client-node")])
      : import("../../../redeemer/executor/local/index.js"),
  ]);
  await once(process.stdin, "data");
  process.stdin.destroy();
  await import("../../../redeemer/main.js");
}

// Mocha loads every file under test/ as a test file: act only when run as a process entry point.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
