/**
 * `npm run bench:audit`: `ctk audit verify` over a history of ≥ 100,000 events (grants, transfers,
 * redemptions, settlements) on a real anvil, beside the bare `eth_getLogs` fetch of the same range
 * in the same run (target: verify ≤ 2 × the bare fetch), with the verifier's peak memory.
 * Writes its figures into the "audit" generated block of bench/RESULTS.md ("## Audit replay"), nothing else.
 *
 * The history is made fast: automine off, transactions sent unsigned from anvil's unlocked and
 * impersonated accounts in JSON-RPC batches, mined 200 to a block (grant batches 4 to a block:
 * ~1,000 logs), phase by phase.
 * The measurement runs in a child process (`bench/auditWorker.ts`) so its peak RSS is the verifier's.
 *
 * Scale with env: BENCH_HOLDERS (1024), BENCH_GRANT_TXS (160 × 256 grants), BENCH_TRANSFERS (20000),
 * BENCH_REDEMPTIONS (8000 redeem → running → settle cycles). CTK_BENCH_WRITE=0 only prints (RESULTS.md left as it is).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { writeGenerated } from "./results.js";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { encodeFunctionData, keccak256, numberToHex, stringToBytes, toHex, type Address, type Hex } from "viem";
import { computeTokenAbi } from "../sdk/generated/abi.js";
import { encodeSpec, jobSpecSchema, priorityIndex } from "../sdk/jobSpec.js";
import { encodeLotId } from "../sdk/lotId.js";
import { deployLocal, localAddress } from "../devkit/localAccounts.js";
import { rpcAt, rpcBatchAt } from "../devkit/localChain.js";
import { startAnvil } from "../devkit/startAnvil.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const HOLDERS = env("BENCH_HOLDERS", 1024);
const GRANT_TXS = env("BENCH_GRANT_TXS", 160);
const TRANSFERS = env("BENCH_TRANSFERS", 20_000);
const REDEMPTIONS = env("BENCH_REDEMPTIONS", 8_000);
const H = 3600n;

let rpcUrl = "";
const rpc = (method: string, params: unknown[] = []) => rpcAt(rpcUrl, method, params);

/** Sends transactions in batches, mines them, and checks every receipt succeeded. */
const nonces = new Map<Address, number>();

/** Explicit nonces: anvil would give two transactions of one sender in one batch the same one. */
async function assignNonces(txs: { from: Address }[]): Promise<number[]> {
  const unknown = [...new Set(txs.map((t) => t.from))].filter((a) => !nonces.has(a));
  for (let i = 0; i < unknown.length; i += 500) {
    const counts = (await rpcBatchAt(
      rpcUrl,
      unknown.slice(i, i + 500).map((a) => ({ method: "eth_getTransactionCount", params: [a, "pending"] })),
    )) as Hex[];
    for (const [j, c] of counts.entries()) nonces.set(unknown[i + j]!, Number(c));
  }
  return txs.map((t) => {
    const n = nonces.get(t.from)!;
    nonces.set(t.from, n + 1);
    return n;
  });
}

async function sendAll(label: string, txs: { from: Address; data: Hex; gas?: number }[], token: Address, perBlock = 200): Promise<void> {
  const started = performance.now();
  const BATCH = perBlock;
  for (let i = 0; i < txs.length; i += BATCH) {
    const chunk = txs.slice(i, i + BATCH);
    const chunkNonces = await assignNonces(chunk);
    const hashes = (await rpcBatchAt(
      rpcUrl,
      chunk.map((t, j) => ({
        method: "eth_sendTransaction",
        params: [{ from: t.from, to: token, data: t.data, gas: numberToHex(t.gas ?? 1_000_000), nonce: numberToHex(chunkNonces[j]!) }],
      })),
    )) as Hex[];
    await rpc("evm_mine");
    const receipts = (await rpcBatchAt(
      rpcUrl,
      hashes.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })),
    )) as { status: Hex }[];
    const failed = receipts.filter((r) => r?.status !== "0x1").length;
    if (failed) throw new Error(`${label}: ${failed} of ${chunk.length} transactions failed`);
  }
  process.stderr.write(`  ${label}: ${txs.length.toLocaleString("en-US")} txs in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

function holderAddress(i: number): Address {
  return `0x${(0xc0de0000 + i).toString(16).padStart(40, "0")}` as Address;
}

async function main() {
  // BENCH_STATE=<file>: the chain is dumped there on exit and loaded from there on the next run.
  // (Not `--state`: its periodic dumps of a large state stall the node and distort the timings.)
  const statePath = process.env.BENCH_STATE;
  const savedDeployment = statePath ? `${statePath}.deployment.json` : undefined;
  const reuse = Boolean(statePath && existsSync(statePath) && savedDeployment && existsSync(savedDeployment));
  const stateArgs = !statePath ? [] : reuse ? ["--load-state", statePath] : ["--dump-state", statePath];
  const anvil = await startAnvil({ args: ["--gas-limit", "30000000000", "--no-mining", "--order", "fifo", ...stateArgs] });
  rpcUrl = anvil.rpcUrl;
  try {
    if (reuse) {
      process.stderr.write(`reusing the history in ${statePath}\n`);
      await measure(readFileSync(savedDeployment!, "utf8"));
      return;
    }
    process.stderr.write(`building the history on ${rpcUrl}\n`);
    // Deploy with automine on (the deployer waits for receipts), then switch it off.
    await rpc("evm_setAutomine", [true]);
    const deployment = await deployLocal(rpcUrl);
    await rpc("evm_setAutomine", [false]);
    const token = deployment.computeToken;
    const data = (functionName: string, args: unknown[]) => encodeFunctionData({ abi: computeTokenAbi, functionName: functionName as never, args: args as never });
    const ops = localAddress("OPERATIONS");
    const hr = localAddress("HR");
    const redeemer = localAddress("REDEEMER");
    await sendAll("classes", [{ from: ops, data: data("defineClass", ["H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, 8]) }], token);

    const holders = Array.from({ length: HOLDERS }, (_, i) => holderAddress(i));
    for (let i = 0; i < holders.length; i += 200) {
      await rpcBatchAt(
        rpcUrl,
        holders.slice(i, i + 200).flatMap((h) => [
          { method: "anvil_impersonateAccount", params: [h] },
          { method: "anvil_setBalance", params: [h, numberToHex(10n ** 21n)] },
        ]),
      );
    }
    const onboard = [];
    for (let i = 0; i < holders.length; i += 256) onboard.push({ from: hr, data: data("onboard", [holders.slice(i, i + 256)]), gas: 20_000_000 });
    await sendAll("onboard", onboard, token);

    const now = BigInt(((await rpc("eth_getBlockByNumber", ["latest", false])) as { timestamp: Hex }).timestamp);
    const lots = [
      encodeLotId({ classId: 1, expiresAt: now + 365n * 86_400n, policy: "transferable" }),
      encodeLotId({ classId: 1, expiresAt: now + 180n * 86_400n, policy: "soulbound" }),
    ];
    const grants = [];
    for (let g = 0; g < GRANT_TXS; g++) {
      const recipients = Array.from({ length: 256 }, (_, k) => holders[(g * 256 + k) % holders.length]!);
      grants.push({
        from: hr,
        gas: 20_000_000,
        data: data("grantBatch", [
          keccak256(stringToBytes(`bench-batch-${g}`)),
          recipients,
          recipients.map(() => lots[g < GRANT_TXS / 2 ? 0 : 1]!),
          recipients.map(() => 100n * H),
        ]),
      });
    }
    await sendAll("grant batches", grants, token, 4);

    const transfers = Array.from({ length: TRANSFERS }, (_, t) => {
      const from = holders[t % holders.length]!;
      const to = holders[(t * 7 + 1) % holders.length]!;
      return { from, data: data("safeTransferFrom", [from, to === from ? holders[(t + 1) % holders.length]! : to, lots[0]!, H, "0x"]) };
    });
    await sendAll("transfers", transfers, token);

    const spec = toHex(
      encodeSpec(jobSpecSchema.parse({ name: "bench", image: `registry.example.com/team/bench@sha256:${"a".repeat(64)}`, command: ["python", "train.py"], gpus: 1, hours: 1 })),
    );
    const redeems = Array.from({ length: REDEMPTIONS }, (_, r) => ({
      from: holders[r % holders.length]!,
      data: data("redeem", [1, [lots[1]!, lots[0]!], 1, 3600, priorityIndex("normal"), spec]),
    }));
    await sendAll("redeems", redeems, token);
    const ids = Array.from({ length: REDEMPTIONS }, (_, r) => BigInt(r + 1));
    await sendAll(
      "markRunning",
      ids.map((id) => ({ from: redeemer, data: data("markRunning", [id, keccak256(toHex(`job-${id}`))]) })),
      token,
    );
    await sendAll(
      "settle",
      ids.map((id) => ({ from: redeemer, data: data("settle", [id, 600n + (id % 3000n), keccak256(toHex(`receipt-${id}`))]) })),
      token,
    );

    if (savedDeployment) writeFileSync(savedDeployment, JSON.stringify(deployment));
    await rpc("evm_mine");
    await measure(JSON.stringify(deployment));
  } finally {
    await anvil.stop();
  }
}

async function measure(deploymentJson: string): Promise<void> {
  {
    const deploymentFile = path.join(os.tmpdir(), `ctk-bench-deployment-${process.pid}.json`);
    writeFileSync(deploymentFile, deploymentJson);
    process.stderr.write("measuring (child process)\n");
    const result = await new Promise<Record<string, number | boolean | string>>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "bench/auditWorker.ts"), rpcUrl, deploymentFile], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}: ${out}`))));
    });
    if (process.env.CTK_BENCH_WRITE !== "0") writeResults(result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
}

function writeResults(r: Record<string, number | boolean | string>): void {
  const n = (v: unknown, d = 0) => Number(v).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const ratio = Number(r.ratio);
  const section = `Measured ${new Date().toISOString().slice(0, 10)} on anvil (loopback HTTP), ${os.cpus().length} cores (shared with other work: load average ${os.loadavg()[0]!.toFixed(1)}), Node ${process.version}.
History: ${n(r.events)} events in ${n(r.blocks)} blocks — ${n(GRANT_TXS)} grant batches of 256 (${n(GRANT_TXS * 256)} mints), ${n(TRANSFERS)} transfers,
${n(REDEMPTIONS)} redemptions each requested (1 GPU × 1 h, burnt from the soonest-expiring lot), running and settled with a partial refund, across ${n(HOLDERS)} holders.
Both runs use the same fetcher over the same range: \`eth_getLogs\` in bounded ranges (at most ${n(r.chunkBlocks)} blocks, shrunk to about 5,000 logs
where the history is dense: ${n(r.ranges)} ranges), two ranges fetched ahead. The verifier runs in its own process (peak RSS is its own).

| measure | value |
|---|--:|
| bare \`eth_getLogs\` fetch of the range (no decoding) | ${n(r.bareSeconds, 2)} s (${n(Number(r.events) / Number(r.bareSeconds))} events/s) |
| \`audit verify\`: fetch + decode + replay + live comparison + bytecode | ${n(r.verifySeconds, 2)} s (**${n(r.eventsPerSecond)} events/s**) |
| of which the live comparison (${n(r.balancesCompared)} balances, ${n(r.redemptionsCompared)} redemptions) | ${n(r.liveSeconds, 2)} s |
| verify / bare fetch | **${n(ratio, 2)} ×** — target ≤ 2 ×: **${ratio <= 2 ? "PASS" : "FAIL"}** |
| verify result | ${r.ok ? "exit 0 (reconciles)" : `${r.findings} findings`} |
| peak RSS of the verifier process | ${n(Number(r.maxRssMiB), 0)} MiB |
| peak JS heap during verify (sampled every 20 ms) | ${n(Number(r.peakHeapMiB), 0)} MiB |
`;
  writeGenerated("## Audit replay (npm run bench:audit)", "audit", section);
}

await main();
