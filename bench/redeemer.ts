/**
 * Redeemer benchmark (`npm run bench:redeemer`), with the Kubernetes executor against the in-repo
 * fake API server and a real anvil:
 *
 *   backfill  N redemptions already on-chain when the redeemer starts: redemptions/s from its
 *             start (log fetch) to every Job created, beside the bare eth_getLogs + decode of the
 *             same range in the same run. Targets: ≥ 1,000/s and ≤ 3 × the bare fetch.
 *   live      burns arriving on a chain that mines a block every second, with `confirmations`
 *             1: latency from the burn's block appearing to its Job being created (p50, p99).
 *             Target: p99 ≤ confirmations × block time + 250 ms.
 *
 * Peak memory is sampled throughout. Results go to bench/RESULTS.md, replacing only the "redeemer"
 * (and "redeemer scale") generated blocks of the "## Redeemer" section: the analysis around them is hand-written. Scale with CTK_BENCH_REDEMPTIONS (10,000) and CTK_BENCH_LIVE (200);
 * CTK_BENCH_WRITE=0 only prints; CTK_BENCH_SCALE=10000,100000 sets the long histories (empty: none),
 * CTK_BENCH_SCALE_NODE_ARGS adds node flags to their redeemer processes, CTK_BENCH_SCALE_ANVIL_ARGS anvil options to
 * their chains, CTK_BENCH_SCALE_CLAIMS_IN_FLIGHT sets the redeemer's claim batches in flight (2), and before each start
 * the same claims are timed on the bare chain (bench/bareChain.ts), the baseline of its claims; CTK_BENCH_ONLY=scale runs only those
 * and rewrites only their block ("redeemer scale") of RESULTS.md; CTK_BENCH_SCALE_HEAP_PROFILE=<file> writes, per such run, a
 * sampling heap profile of what it promoted to the old generation (bench/redeemerScaleRun.ts); CTK_BENCH_PROFILE=<file.cpuprofile> writes a CPU profile of the
 * benchmark's process covering the backfill only (open it in Chrome DevTools or speedscope), and
 * one of the fake API server's whole life beside it; CTK_BENCH_HEAP_PROFILE=<file.heapprofile>
 * writes a sampling heap profile of what the backfill allocated and still holds at its end.
 */
import { RESULTS_FILE, writeGenerated } from "./results.js";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Session } from "node:inspector/promises";
import { type Address, encodeFunctionData, type Hex, toHex } from "viem";
import { createChainClient } from "../sdk/client.js";
import type { Deployment } from "../sdk/deployment.js";
import { fetchComputeTokenEvents, REDEMPTION_CONTEXT_EVENT_NAMES, REDEMPTION_EVENT_NAMES } from "../sdk/events.js";
import { computeTokenAbi } from "../sdk/generated/abi.js";
import { encodeSpec } from "../sdk/jobSpec.js";
import { parseRedeemerConfig, type Redeemer, startRedeemer } from "../redeemer/index.js";
import { ANVIL_KEYS, startAnvil } from "../devkit/startAnvil.js";
import { type ChildProcess, fork } from "node:child_process";
import { rpcAt as rpc } from "../devkit/localChain.js";
import { historyChain, type Setup, setUp, spec } from "./history.js";
import { type BareChainFigures, cpuSecondsOf, measureBareChain } from "./bareChain.js";
import { MAX_CLAIM_BATCH } from "../redeemer/settler/claimBatcher.js";
import { privateKeyToAccount } from "viem/accounts";
import type { ScaleRunInput, ScaleRunResult } from "./redeemerScaleRun.js";

const N = Number(process.env.CTK_BENCH_REDEMPTIONS ?? 10_000);
const LIVE = Number(process.env.CTK_BENCH_LIVE ?? 200);
const BLOCK_TIME_S = 1;
const CONFIRMATIONS = 1;
const SECTION = "## Redeemer (npm run bench:redeemer)";

const KUBE = {
  namespace: "gpu-jobs",
  localQueue: "team-gpus",
  priorityClasses: { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" },
  workloadPriorityClasses: { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" },
};
/**
 * Peak memory while the redeemer runs (the backfill, then the live run): reset just before each
 * start, so the set-up's transactions and the bare fetches in this same process do not count.
 */
let peakRss = 0;
let peakHeap = 0;
let sampling = false;
const traceMemory = process.env.CTK_BENCH_MEM_TRACE === "1";
const samplePeaks = () => {
  if (!sampling) return;
  const rss = process.memoryUsage.rss();
  const heap = getHeapStatistics().used_heap_size;
  if (traceMemory && (heap > peakHeap || rss > peakRss)) log(`memory: RSS ${(rss / 2 ** 20).toFixed(0)} MiB, heap ${(heap / 2 ** 20).toFixed(0)} MiB`);
  peakRss = Math.max(peakRss, rss);
  peakHeap = Math.max(peakHeap, heap);
};
const sampler = setInterval(samplePeaks, 50);
sampler.unref();
const startSampling = () => {
  sampling = true;
  samplePeaks();
};
const stopSampling = () => {
  samplePeaks();
  sampling = false;
};

/** A full garbage collection, so that "live" heap figures are live objects, not garbage not yet collected. */
const fullGc: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();
const heapUsed = () => getHeapStatistics().used_heap_size;

const log = (...a: unknown[]) => console.error("[bench:redeemer]", ...a);
const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

/** eth_sendTransaction from anvil's unlocked accounts: anvil signs; no client-side signing cost. */
async function sendRedeem(rpcUrl: string, s: Setup, from: Address, i: number, nonce?: number): Promise<Hex> {
  const js = spec(i);
  const data = encodeFunctionData({ abi: computeTokenAbi, functionName: "redeem", args: [1, [s.lotId], 1, 36, 1, toHex(encodeSpec(js))] });
  return (await rpc(rpcUrl, "eth_sendTransaction", [{ from, to: s.deployment.computeToken, data, gas: "0x7a120", ...(nonce !== undefined && { nonce: toHex(nonce) }) }])) as Hex;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function configFor(rpcUrl: string, deployment: Deployment, dir: string, kubeconfig: string, confirmations: number) {
  return parseRedeemerConfig({
    rpcUrl,
    deployment,
    privateKey: ANVIL_KEYS[1],
    confirmations,
    pollIntervalMs: 20,
    maxBlockRange: 5_000,
    receiptsDir: join(dir, "receipts"),
    api: { port: 0 },
    logLevel: "warn",
    policy: { allowedRegistries: ["registry.example.com"] },
    executor: { kind: "kubernetes", kubernetes: { ...KUBE, resyncMs: 600_000 }, kubeconfig },
    launch: { concurrency: 64 },
    tx: { concurrency: 16 },
  });
}

interface FakeKubeHandle {
  kubeconfig: string;
  pid: number | undefined;
  stats(): Promise<{ created: number; twice: number; calls: Record<string, number> }>;
  close(): Promise<void>;
}

/** With CTK_BENCH_PROFILE, the fake API server writes a profile of its whole life beside it. */
const serverProfileArgs = (): string[] => {
  const file = process.env.CTK_BENCH_PROFILE;
  if (!file) return [];
  return ["--cpu-prof", `--cpu-prof-dir=${join(file, "..")}`, `--cpu-prof-name=fakeKube-${Date.now()}.cpuprofile`];
};

/** The fake API server in its own process (bench/fakeKubeProcess.ts). */
async function forkFakeKube(dir: string): Promise<FakeKubeHandle> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./fakeKubeProcess.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx", ...serverProfileArgs()],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const info = await new Promise<{ kubeconfig: string }>((resolve, reject) => {
    child.once("message", (m) => resolve(m as { kubeconfig: string }));
    child.once("exit", (code) => reject(new Error(`fake API server exited (${code})`)));
  });
  const kubeconfig = join(dir, "kubeconfig.json");
  writeFileSync(kubeconfig, info.kubeconfig);
  return {
    kubeconfig,
    pid: child.pid,
    stats: () =>
      new Promise((resolve) => {
        child.once("message", (m) => resolve(m as { created: number; twice: number; calls: Record<string, number> }));
        child.send("stats");
      }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.send("stop");
      }),
  };
}

async function backfill(): Promise<Record<string, number>> {
  const anvil = await startAnvil({ args: ["--gas-limit", "100000000", "--order", "fifo"] });
  const dir = mkdtempSync(join(tmpdir(), "ctk-bench-"));
  const fake = await forkFakeKube(dir);
  const kubeconfig = fake.kubeconfig;
  let redeemer: Redeemer | undefined;
  try {
    const holders = 8;
    const s = await setUp(anvil.rpcUrl, holders, 10n ** 12n);
    log(`putting ${N} redemptions on-chain…`);
    await rpc(anvil.rpcUrl, "evm_setAutomine", [false]);
    const base = await Promise.all(s.holders.map(async (h) => Number(BigInt((await rpc(anvil.rpcUrl, "eth_getTransactionCount", [h, "latest"])) as string))));
    const t0 = performance.now();
    // In chunks, mining after each: anvil's pool slows down when it holds thousands of transactions.
    const CHUNK = 500;
    for (let startAt = 0; startAt < N; startAt += CHUNK) {
      const work = Array.from({ length: Math.min(CHUNK, N - startAt) }, (_, k) => startAt + k);
      await pool(work, 32, async (i) => {
        const h = i % holders;
        await sendRedeem(anvil.rpcUrl, s, s.holders[h]!, i, base[h]! + Math.floor(i / holders));
      });
      for (;;) {
        await rpc(anvil.rpcUrl, "evm_mine");
        const status = (await rpc(anvil.rpcUrl, "txpool_status")) as { pending: string; queued: string };
        if (BigInt(status.pending) === 0n && BigInt(status.queued) === 0n) break;
      }
    }
    await rpc(anvil.rpcUrl, "evm_setAutomine", [true]);
    const head = BigInt((await rpc(anvil.rpcUrl, "eth_blockNumber")) as string);
    const client = createChainClient(anvil.rpcUrl, "logs");
    const count = await client.readContract({ address: s.deployment.computeToken, abi: computeTokenAbi, functionName: "redemptionCount" });
    if (count !== BigInt(N)) throw new Error(`expected ${N} redemptions on-chain, found ${count}`);
    log(`${N} redemptions in ${head - BigInt(s.deployment.deployBlock)} blocks (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    // The bare fetch: eth_getLogs + decode of the same range and events the watcher reads.
    const bareRuns: number[] = [];
    const bareCpu: number[] = [];
    for (let run = 0; run < 3; run++) {
      const b0 = performance.now();
      const c0 = process.cpuUsage();
      const a0 = cpuSecondsOf(anvil.process.pid);
      const events = await fetchComputeTokenEvents({
        publicClient: client,
        address: s.deployment.computeToken,
        names: [...REDEMPTION_EVENT_NAMES, ...REDEMPTION_CONTEXT_EVENT_NAMES],
        fromBlock: BigInt(s.deployment.deployBlock),
        toBlock: head,
        maxBlockRange: 5_000n,
      });
      bareRuns.push(performance.now() - b0);
      const c = process.cpuUsage(c0);
      bareCpu.push((c.user + c.system) / 1000 + (cpuSecondsOf(anvil.process.pid) - a0) * 1000);
      if (events.filter((e) => e.eventName === "RedemptionRequested").length !== N) throw new Error("bare fetch saw the wrong number of redemptions");
    }
    const bareMs = Math.min(...bareRuns);
    const bareCpuMs = bareCpu[bareRuns.indexOf(bareMs)]!;

    // Load the executor's modules first: a one-off start-up cost, not backfill work.
    await import("../redeemer/executor/kubernetes/index.js");
    await import("@kubernetes/client-node");
    fullGc();
    const heapBefore = heapUsed();
    peakRss = 0;
    peakHeap = 0;
    const profiler = process.env.CTK_BENCH_PROFILE ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
      await profiler.post("Profiler.start");
    }
    const heapProfiler = process.env.CTK_BENCH_HEAP_PROFILE ? new Session() : undefined;
    if (heapProfiler) {
      heapProfiler.connect();
      await heapProfiler.post("HeapProfiler.enable");
      // CTK_BENCH_HEAP_ALL=1: everything allocated, garbage included (where the GC's work comes from).
      const all = process.env.CTK_BENCH_HEAP_ALL === "1";
      await heapProfiler.post("HeapProfiler.startSampling", {
        samplingInterval: all ? 16 * 1024 : 64 * 1024,
        ...(all && { includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
      });
    }
    startSampling();
    const r0 = performance.now();
    const cpu0 = process.cpuUsage();
    const serverCpu0 = cpuSecondsOf(fake.pid);
    const anvilCpu0 = cpuSecondsOf(anvil.process.pid);
    redeemer = await startRedeemer(configFor(anvil.rpcUrl, s.deployment, dir, kubeconfig, 0));
    let readyAt = NaN;
    void redeemer.ready.then(() => {
      readyAt = performance.now();
      log(`ready (history read, ${N} checked) after ${Math.round(readyAt - r0)} ms`);
    });
    // Every launch of the backlog has returned (the create call answered) when this holds. Counted
    // as records change (not by scanning every record every few milliseconds, which would charge
    // the benchmark's own polling to the redeemer's CPU).
    const book = redeemer.book;
    let launched = 0;
    const metricsHook = book.onChange;
    book.onChange = (after, before) => {
      metricsHook?.(after, before);
      if (after.times.launched !== undefined && before?.times.launched === undefined) launched++;
    };
    for (const r of book.all()) if (r.times.launched !== undefined) launched++;
    while (launched < N) await sleep(5);
    const backfillMs = performance.now() - r0;
    const cpu = process.cpuUsage(cpu0);
    const backfillCpuMs = (cpu.user + cpu.system) / 1000;
    const serverCpuMs = (cpuSecondsOf(fake.pid) - serverCpu0) * 1000;
    const anvilCpuMs = (cpuSecondsOf(anvil.process.pid) - anvilCpu0) * 1000;
    const readyMs = readyAt - r0;
    stopSampling();
    const backfillPeakRss = peakRss;
    const backfillPeakHeap = peakHeap;
    fullGc();
    const heapLive = heapUsed(); // what the redeemer holds with every redemption launched
    if (profiler) {
      const { profile } = await profiler.post("Profiler.stop");
      writeFileSync(process.env.CTK_BENCH_PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
      log(`CPU profile of the backfill written to ${process.env.CTK_BENCH_PROFILE}`);
    }
    if (heapProfiler) {
      const { profile } = await heapProfiler.post("HeapProfiler.stopSampling");
      writeFileSync(process.env.CTK_BENCH_HEAP_PROFILE!, JSON.stringify(profile));
      heapProfiler.disconnect();
      log(`heap profile (live at the end of the backfill) written to ${process.env.CTK_BENCH_HEAP_PROFILE}`);
    }
    const stats = await fake.stats();
    if (stats.created !== N || stats.twice) throw new Error(`the API server saw ${stats.created} Jobs created (${stats.twice} twice)`);
    log(`API calls during the run: ${JSON.stringify(stats.calls)}`);
    log(`backfill: ${N} Jobs in ${(backfillMs / 1000).toFixed(2)} s; bare fetch ${(bareMs / 1000).toFixed(2)} s`);
    log(
      `backfill CPU ${Math.round(backfillCpuMs)} ms; fake API server CPU ${Math.round(serverCpuMs)} ms; anvil CPU ${Math.round(anvilCpuMs)} ms; history read and checked after ${Math.round(readyMs)} ms`,
    );
    log(`memory: heap ${mib(heapBefore)} before the start, peak RSS ${mib(backfillPeakRss)} / heap ${mib(backfillPeakHeap)}, ${mib(heapLive)} live after a full GC`);
    return {
      backfillMs,
      backfillCpuMs,
      serverCpuMs,
      anvilCpuMs,
      readyMs,
      bareMs,
      bareCpuMs,
      heapBefore,
      heapLive,
      peakRss: backfillPeakRss,
      peakHeap: backfillPeakHeap,
      blocks: Number(head - BigInt(s.deployment.deployBlock)),
    };
  } finally {
    await redeemer?.stop();
    await fake.close();
    await anvil.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function live(): Promise<number[]> {
  const anvil = await startAnvil({ blockTime: BLOCK_TIME_S });
  const dir = mkdtempSync(join(tmpdir(), "ctk-bench-live-"));
  const fake = await forkFakeKube(dir);
  const kubeconfig = fake.kubeconfig;
  let redeemer: Redeemer | undefined;
  const blockSeen = new Map<bigint, number>();
  let watching = true;
  try {
    const s = await setUp(anvil.rpcUrl, 4, 10n ** 12n);
    fullGc();
    peakRss = 0;
    peakHeap = 0;
    startSampling();
    redeemer = await startRedeemer(configFor(anvil.rpcUrl, s.deployment, dir, kubeconfig, CONFIRMATIONS));
    await redeemer.ready;
    // When each block first appears, polled tightly (the reference point for latency).
    const watcher = (async () => {
      while (watching) {
        const n = BigInt((await rpc(anvil.rpcUrl, "eth_blockNumber")) as string);
        if (!blockSeen.has(n)) blockSeen.set(n, performance.timeOrigin + performance.now());
        await sleep(2);
      }
    })();
    log(`live: ${LIVE} burns over ~${Math.ceil(LIVE / 10)} s, ${BLOCK_TIME_S} s blocks, confirmations ${CONFIRMATIONS}`);
    const hashes: Hex[] = [];
    for (let i = 0; i < LIVE; i++) {
      hashes.push(await sendRedeem(anvil.rpcUrl, s, s.holders[i % 4]!, i));
      await sleep(Math.random() * 200);
    }
    const client = createChainClient(anvil.rpcUrl, "local", { pollingInterval: 50 });
    const receipts = await Promise.all(hashes.map((hash) => client.waitForTransactionReceipt({ hash })));
    const ids = receipts.map((rc) => {
      const log = rc.logs.find((l) => l.address.toLowerCase() === s.deployment.computeToken.toLowerCase())!;
      return { id: BigInt(log.topics[1]!), block: rc.blockNumber };
    });
    const book = redeemer.book;
    const deadline = Date.now() + 60_000;
    while (!ids.every(({ id }) => book.get(id)?.times.launched !== undefined)) {
      if (Date.now() > deadline) throw new Error("live burns not all launched within 60 s");
      await sleep(20);
    }
    watching = false;
    await watcher;
    stopSampling();
    return ids.map(({ id, block }) => book.get(id)!.times.launched! - blockSeen.get(block)!);
  } finally {
    watching = false;
    await redeemer?.stop();
    await fake.close();
    await anvil.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const SCALE_TERMINAL = (process.env.CTK_BENCH_SCALE ?? "10000,100000").split(",").filter(Boolean).map(Number);
const SCALE_OPEN = Number(process.env.CTK_BENCH_SCALE_OPEN ?? 1_000);
/** CTK_BENCH_SCALE_ANVIL_ARGS: anvil options for the long histories' chains, besides bench/history.ts' own. */
const SCALE_ANVIL_ARGS = (process.env.CTK_BENCH_SCALE_ANVIL_ARGS ?? "").split(" ").filter(Boolean);
/** NaN (not measured) when there is nothing to take it of. */
const median = (xs: number[]) => (xs.length ? quantile(xs, 0.5) : NaN);
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
/** CTK_BENCH_SCALE_UNTIL=ready: each start is measured up to ready only (no claims or launches of the open ones). */
const SCALE_UNTIL_READY = process.env.CTK_BENCH_SCALE_UNTIL === "ready";

/** One measured start of the redeemer in a process of its own (bench/redeemerScaleRun.ts); `onPhase` when it is ready and when the last Job is created. */
function scaleRun(input: ScaleRunInput, onPhase: (phase: "ready" | "done") => void): Promise<ScaleRunResult> {
  const child = fork(fileURLToPath(new URL("./redeemerScaleRun.ts", import.meta.url)), [], {
    execArgv: ["--expose-gc", ...(process.env.CTK_BENCH_SCALE_NODE_ARGS ?? "").split(" ").filter(Boolean), "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.on("message", (m) => {
      const msg = m as { phase?: "ready" | "done"; result?: ScaleRunResult; error?: string };
      if (msg.phase) onPhase(msg.phase);
      else if (msg.result) resolve(msg.result);
      else reject(new Error(`scale run failed: ${msg.error}`));
    });
    child.once("exit", (code) => reject(new Error(`scale run exited (${code})`)));
    child.send(input);
  });
}

interface ScaleFigures {
  terminal: number;
  open: number;
  blocks: number;
  load: string;
  without: ScaleRun;
  with: ScaleRun;
  checkpointBytes: number;
}

/** A measured start, with the bare chain's claims measured on the same chain just before it. */
interface ScaleRun extends ScaleRunResult {
  bare: BareChainFigures;
  /** anvil's CPU time from the redeemer ready to its last Job created. */
  anvilClaimsCpuMs: number;
}

/** The redeemer's claim settings (config defaults) and receipt polling (redeemer/index.ts' formula on the bench's pollIntervalMs 20: max(100, 2 × 20) ms). */
const CLAIM_BATCH = MAX_CLAIM_BATCH;
/** CTK_BENCH_SCALE_CLAIMS_IN_FLIGHT: the redeemer's tx.claimBatchesInFlight in the long-history runs (and the bare chain's). */
const CLAIM_BATCHES_IN_FLIGHT = Number(process.env.CTK_BENCH_SCALE_CLAIMS_IN_FLIGHT ?? 2);
const RECEIPT_POLL_MS = 100;

/**
 * A long history (`terminal` redemptions over, then SCALE_OPEN open), from bench/history.ts:
 * the redeemer started on it without a checkpoint (the whole history read), then, on the same
 * chain state loaded afresh, with the checkpoint the first start wrote at the end of its history
 * read. Each start has a fresh API server, so every open redemption's Job is created both times.
 */
async function scale(terminal: number): Promise<ScaleFigures> {
  const dir = mkdtempSync(join(tmpdir(), "ctk-bench-scale-"));
  try {
    const saved = join(dir, "checkpoint-after-history.json");
    const once = async (runDir: string, checkpoint: string | undefined): Promise<{ r: ScaleRun; blocks: number }> => {
      const { anvil, history } = await historyChain(terminal, SCALE_OPEN, SCALE_ANVIL_ARGS);
      const fake = await forkFakeKube(runDir);
      try {
        if (checkpoint) copyFileSync(checkpoint, join(runDir, "redeemer-checkpoint.json"));
        // The baseline: the same claims on the same chain with no redeemer, then reverted.
        const bare = await measureBareChain({
          rpcUrl: anvil.rpcUrl,
          contract: history.deployment.computeToken,
          from: privateKeyToAccount(ANVIL_KEYS[1]).address,
          ids: Array.from({ length: SCALE_OPEN }, (_, k) => BigInt(history.terminal + 1 + k)),
          batch: CLAIM_BATCH,
          inFlight: CLAIM_BATCHES_IN_FLIGHT,
          receiptPollMs: RECEIPT_POLL_MS,
          anvilPid: anvil.process.pid,
        });
        log(
          `scale ${terminal}: bare chain ${SCALE_OPEN} claims in ${Math.round(bare.claimsMs)} ms (transactions ${bare.batches.map((b) => Math.round(b.ms)).join(", ")} ms; anvil CPU ${Math.round(bare.claimsAnvilCpuMs)} ms), empty block ${Math.round(median(bare.emptyMineMs))} ms, transfer ${Math.round(median(bare.transferMs))} ms`,
        );
        let anvilCpuAtReady = NaN;
        let anvilCpuAtDone = NaN;
        const r0 = await scaleRun(
          {
            rpcUrl: anvil.rpcUrl,
            deployment: history.deployment,
            kubeconfig: fake.kubeconfig,
            dir: runDir,
            open: SCALE_OPEN,
            kube: KUBE,
            untilReady: SCALE_UNTIL_READY,
            claimBatchesInFlight: CLAIM_BATCHES_IN_FLIGHT,
            ...(!checkpoint && { saveCheckpointAs: saved }),
          },
          (phase) => {
            if (phase === "ready") anvilCpuAtReady = cpuSecondsOf(anvil.process.pid);
            else anvilCpuAtDone = cpuSecondsOf(anvil.process.pid);
          },
        );
        const r: ScaleRun = { ...r0, bare, anvilClaimsCpuMs: (anvilCpuAtDone - anvilCpuAtReady) * 1000 };
        log(
          `scale ${terminal}: the redeemer's claim transactions ${r.claimBatchesMs.map(Math.round).join(", ")} ms; anvil CPU ready → last Job ${Math.round(r.anvilClaimsCpuMs)} ms`,
        );
        const stats = await fake.stats();
        if (!SCALE_UNTIL_READY && (stats.created !== SCALE_OPEN || stats.twice)) throw new Error(`the API server saw ${stats.created} Jobs created (${stats.twice} twice)`);
        return { r, blocks: history.head - history.deployment.deployBlock };
      } finally {
        await fake.close();
        await anvil.stop();
      }
    };
    const load = loadavg();
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    const a = await once(join(dir, "a"), undefined);
    log(
      `scale ${terminal}: without a checkpoint ready in ${Math.round(a.r.readyMs)} ms, ${SCALE_OPEN} Jobs in ${Math.round(a.r.backfillMs)} ms, peak RSS ${mib(a.r.peakRss)}, live ${mib(a.r.heapLive)}`,
    );
    const b = await once(join(dir, "b"), saved);
    if (!b.r.fromCheckpoint) throw new Error("the second start did not use the checkpoint");
    log(
      `scale ${terminal}: with the checkpoint ready in ${Math.round(b.r.readyMs)} ms, ${SCALE_OPEN} Jobs in ${Math.round(b.r.backfillMs)} ms, peak RSS ${mib(b.r.peakRss)}, live ${mib(b.r.heapLive)}`,
    );
    return { terminal, open: SCALE_OPEN, blocks: a.blocks, load, without: a.r, with: b.r, checkpointBytes: statSync(saved).size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const when = new Date().toISOString().slice(0, 10);
const loadavg = (): string => {
  try {
    return `load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} on ${availableParallelism()} CPUs`;
  } catch {
    return "unknown";
  }
};
function scaleSectionOf(scaled: ScaleFigures[]): string {
  if (scaled.length === 0) return "";
  const cols = scaled;
  const head = `| measure | ${cols.map((c) => `${c.terminal.toLocaleString("en")} over + ${c.open.toLocaleString("en")} open`).join(" | ")} |${cols.length > 1 ? " ratio, last ÷ first | target |" : ""}`;
  const sep = `|---|${cols.map(() => "--:").join("|")}|${cols.length > 1 ? "--:|---|" : ""}`;
  const s1 = (x: number) => `${(x / 1000).toFixed(2)} s`;
  const row = (label: string, f: (c: ScaleFigures) => number, fmt: (x: number) => string, target?: (ratio: number, last: number, all: number[]) => string) => {
    const values = cols.map(f);
    if (values.some((v) => v === null || Number.isNaN(v))) return `| ${label} | ${values.map(() => "not measured").join(" | ")} |${cols.length > 1 ? " — | — |" : ""}`;
    const ratio = values[values.length - 1]! / values[0]!;
    return `| ${label} | ${values.map(fmt).join(" | ")} |${cols.length > 1 ? ` ${ratio.toFixed(2)} × | ${target ? target(ratio, values[values.length - 1]!, values) : "—"} |` : ""}`;
  };
  const own = (r: ScaleRunResult) => r.heapLive - r.heapBefore;
  // Not measured (CTK_BENCH_SCALE_UNTIL=ready): NaN, which arrives as null over IPC.
  const backfill = (r: ScaleRunResult) => r.backfillMs ?? NaN;
  const rate = (c: ScaleFigures, r: ScaleRunResult) => c.open / (backfill(r) / 1000);
  const claims = (c: ScaleFigures, r: ScaleRunResult) => c.open / ((backfill(r) - r.readyMs) / 1000);
  const wholeRun = (x: number) => (SCALE_UNTIL_READY ? NaN : x);
  /** The redeemer's CPU time from ready to the last Job, less its idle polling over that time. */
  const ownWork = (r: ScaleRun) => wholeRun(r.cpuMs - r.cpuReadyMs - (r.idleCpuMsPerS * (backfill(r) - r.readyMs)) / 1000);
  const bareRate = (c: ScaleFigures, r: ScaleRun) => c.open / (r.bare.claimsMs / 1000);
  const perSecond = (x: number) => x.toFixed(1);
  const times = (x: number) => `${x.toFixed(2)} ×`;
  const ms = (x: number) => `${Math.round(x).toLocaleString("en")} ms`;
  const unchanged = (r: number) => `unchanged: ${pass(r <= 1.2)} (at most 20 % more)`;
  return `Measured ${when}, Node ${process.version}. Claims: up to ${CLAIM_BATCH} per markRunningBatch transaction, ${CLAIM_BATCHES_IN_FLIGHT} in flight, receipts polled every ${RECEIPT_POLL_MS} ms, by the redeemer and by the bare chain alike; anvil ${SCALE_ANVIL_ARGS.length ? `with \`${SCALE_ANVIL_ARGS.join(" ")}\` besides bench/history.ts' options` : "with bench/history.ts' options"}.${SCALE_UNTIL_READY ? " This run stopped each start at ready (`CTK_BENCH_SCALE_UNTIL=ready`): the claims and launches of the open ones were not measured." : ""}

${head}
${sep}
${row(
  "blocks of history",
  (c) => c.blocks,
  (x) => x.toLocaleString("en"),
)}
${row("start → ready, without a checkpoint (history read in full)", (c) => c.without.readyMs, s1)}
${row(
  "start → ready, from the checkpoint",
  (c) => c.with.readyMs,
  s1,
  (_r, _last, all) => `≤ 2 s on every history: ${pass(all.every((v) => v <= 2000))}`,
)}
${row(`start → ${SCALE_OPEN.toLocaleString("en")} Jobs created, without a checkpoint`, (c) => backfill(c.without), s1)}
${row(`start → ${SCALE_OPEN.toLocaleString("en")} Jobs created, from the checkpoint`, (c) => backfill(c.with), s1)}
${row(
  "open redemptions ÷ (start → every Job created), from the checkpoint, per second",
  (c) => rate(c, c.with),
  (x) => Math.round(x).toLocaleString("en"),
)}
${row("claims: open redemptions ÷ (ready → every Job created), without a checkpoint, per second", (c) => claims(c, c.without), perSecond)}
${row("claims: the same, from the checkpoint, per second", (c) => claims(c, c.with), perSecond)}
${row(
  `bare chain: the same ${SCALE_OPEN.toLocaleString("en")} claims with no redeemer, per second (first send → last receipt), on the chain of the start without a checkpoint`,
  (c) => bareRate(c, c.without),
  perSecond,
)}
${row("… on the chain of the start from the checkpoint", (c) => bareRate(c, c.with), perSecond)}
${row("the redeemer's claims ÷ the bare chain's, without a checkpoint (rises by itself as the chain slows)", (c) => claims(c, c.without) / bareRate(c, c.without), times)}
${row("… from the checkpoint", (c) => claims(c, c.with) / bareRate(c, c.with), times)}
${row(
  "**the redeemer's own time**: (ready → every Job created) − the bare chain's claims, without a checkpoint",
  (c) => backfill(c.without) - c.without.readyMs - c.without.bare.claimsMs,
  ms,
  unchanged,
)}
${row("**… from the checkpoint**", (c) => backfill(c.with) - c.with.readyMs - c.with.bare.claimsMs, ms, unchanged)}
${row("blocks the bare chain's claims were mined in (each chain)", (c) => Math.max(c.without.bare.blocks, c.with.bare.blocks), count)}
${row("a claim transaction, send → receipt, median: the redeemer's (both starts)", (c) => wholeRun(median([...c.without.claimBatchesMs, ...c.with.claimBatchesMs])), ms)}
${row("… the bare chain's (both chains)", (c) => median([...c.without.bare.batches, ...c.with.bare.batches].map((b) => b.ms)), ms)}
${row("… slowest, the redeemer's", (c) => wholeRun(max([...c.without.claimBatchesMs, ...c.with.claimBatchesMs])), ms)}
${row("… slowest, the bare chain's", (c) => max([...c.without.bare.batches, ...c.with.bare.batches].map((b) => b.ms)), ms)}
${row("anvil's CPU time from ready to the last Job, without a checkpoint (the redeemer's claims, its reads, and the blocks)", (c) => c.without.anvilClaimsCpuMs, ms)}
${row("… from the checkpoint", (c) => c.with.anvilClaimsCpuMs, ms)}
${row("anvil's CPU time for the bare chain's claims (mean of both chains)", (c) => (c.without.bare.claimsAnvilCpuMs + c.with.bare.claimsAnvilCpuMs) / 2, ms)}
${row("an empty block (`evm_mine`), median of 10", (c) => median([...c.without.bare.emptyMineMs, ...c.with.bare.emptyMineMs]), ms)}
${row("… anvil's CPU time per empty block", (c) => (c.without.bare.emptyMineCpuMs + c.with.bare.emptyMineCpuMs) / 2, ms)}
${row("a 0-value transfer to oneself, send → receipt, median of 10", (c) => median([...c.without.bare.transferMs, ...c.with.bare.transferMs]), ms)}
${row("… anvil's CPU time per transfer", (c) => (c.without.bare.transferCpuMs + c.with.bare.transferCpuMs) / 2, ms)}
${row(`a ${CLAIM_BATCH}-claim \`eth_call\` of markRunningBatch, median of 10`, (c) => median([...c.without.bare.callMs, ...c.with.bare.callMs]), ms)}
${row("CPU time of the redeemer's process from ready to the last Job (its claims and launches), without a checkpoint", (c) => wholeRun(c.without.cpuMs - c.without.cpuReadyMs), ms)}
${row("… from the checkpoint", (c) => wholeRun(c.with.cpuMs - c.with.cpuReadyMs), ms)}
${row("CPU time of the redeemer's process per second once every Job is created (nothing to do: its polling of the chain every 20 ms), mean of both starts", (c) => (c.without.idleCpuMsPerS + c.with.idleCpuMsPerS) / 2, ms)}
${row(
  "**its CPU for the claims and launches**: CPU time from ready to the last Job minus that polling over the same time (an estimate: polls held behind a block may cost less), without a checkpoint",
  (c) => ownWork(c.without),
  ms,
  unchanged,
)}
${row("**… from the checkpoint**", (c) => ownWork(c.with), ms, unchanged)}
${row("peak RSS up to ready (the history read), without a checkpoint", (c) => c.without.peakRssReady, mb, atMostHalfMore)}
${row("peak heap up to ready, without a checkpoint", (c) => c.without.peakHeapReady, mb)}
${row("peak RSS up to ready, from the checkpoint", (c) => c.with.peakRssReady, mb, atMostHalfMore)}
${row("peak RSS over the whole run (claims and launches included), without a checkpoint", (c) => wholeRun(c.without.peakRss), mb, atMostHalfMore)}
${row("… from the checkpoint", (c) => wholeRun(c.with.peakRss), mb, atMostHalfMore)}
${row("live heap after a full GC, without a checkpoint", (c) => c.without.heapLive, mb, atMostHalfMore)}
${row("… of which the redeemer's own (minus the heap before the start)", (c) => own(c.without), mb)}
${row("live heap after a full GC, from the checkpoint", (c) => c.with.heapLive, mb, atMostHalfMore)}
${row("… of which the redeemer's own", (c) => own(c.with), mb)}
${row("redemptions in memory at the end of the run, without a checkpoint", (c) => c.without.inMemory, count)}
${row("redemptions over, dropped from memory (one byte each)", (c) => c.without.dropped, count)}
${row(
  "checkpoint file",
  (c) => c.checkpointBytes,
  (x) => `${(x / 1024).toFixed(0)} KiB`,
)}
${row("CPU time of the redeemer's process, without a checkpoint", (c) => c.without.cpuMs, s1)}
${row("… with the checkpoint", (c) => c.with.cpuMs, s1)}

Machine load when each history's runs began: ${cols.map((c) => `${c.terminal.toLocaleString("en")}: ${c.load}`).join("; ")}; when the last ended: ${loadavg()}.
`;
}

const pass = (ok: boolean) => (ok ? "**PASS**" : "**FAIL**");
/** The memory target: at most 1.5 × the smallest history's figure. */
const atMostHalfMore = (r: number) => `≤ 1.5 ×: ${pass(r <= 1.5)}`;
const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
const count = (x: number) => x.toLocaleString("en");
/** The long-history figures: their own block in the redeemer section (under its "### At company scale" prose). */
const writeScaleBlock = (text: string) => writeGenerated(SECTION, "redeemer scale", text);

if (process.env.CTK_BENCH_ONLY === "scale") {
  // Only the long-history runs: their block of RESULTS.md is replaced, the rest left as it was.
  clearInterval(sampler);
  const scaled: ScaleFigures[] = [];
  for (const terminal of SCALE_TERMINAL) scaled.push(await scale(terminal));
  const text = scaleSectionOf(scaled);
  console.log(text);
  if (process.env.CTK_BENCH_WRITE !== "0" && scaled.length) {
    writeScaleBlock(text);
    console.log(`written to ${RESULTS_FILE}`);
  }
  process.exit(0);
}

const loadBefore = loadavg();
const b = await backfill();
const loadAfterBackfill = loadavg();
const latencies = LIVE > 0 ? await live() : [0];
clearInterval(sampler);
const scaled: ScaleFigures[] = [];
for (const terminal of SCALE_TERMINAL) scaled.push(await scale(terminal));

const rate = N / (b.backfillMs / 1000);
const ratio = b.backfillMs / b.bareMs;
const p50 = quantile(latencies, 0.5);
const p99 = quantile(latencies, 0.99);
const latencyTarget = CONFIRMATIONS * BLOCK_TIME_S * 1000 + 250;
const cpu = (() => {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
})();

const section = `Measured ${when} with the Kubernetes executor (real \`@kubernetes/client-node\`) against the in-repo fake API server
(devkit/fakeKube.ts, in a process of its own), a real anvil, everything on one machine (${cpu}, Node ${process.version}).
The redeemer runs in the benchmark's process; launch concurrency 64, chain-action concurrency 16; the executor's
defaults: 32 requests in flight, creates pipelined 8 deep on 4 connections.

| measure | result | target |
|---|--:|---|
| backfill: ${N.toLocaleString("en")} redemptions on-chain (${b.blocks} blocks) → every Job created | ${(b.backfillMs / 1000).toFixed(2)} s = **${Math.round(rate).toLocaleString("en")} redemptions/s** | ≥ 1,000/s: ${pass(rate >= 1000)} |
| bare \`eth_getLogs\` + decode of the same range (best of 3) | ${(b.bareMs / 1000).toFixed(2)} s | — |
| backfill ÷ bare fetch | ${ratio.toFixed(2)} × | ≤ 3 ×: ${pass(ratio <= 3)} |
| history read and checked in full (start-up, log fetch + decode, policy checks; launching starts during it) | ${(b.readyMs / 1000).toFixed(2)} s | — |
| CPU time of the redeemer's process during the backfill | ${(b.backfillCpuMs / 1000).toFixed(2)} s (${(b.backfillCpuMs / N).toFixed(2)} ms per redemption) | — |
| CPU time of the fake API server's process during the backfill | ${(b.serverCpuMs / 1000).toFixed(2)} s (${(b.serverCpuMs / N).toFixed(2)} ms per Job) | — |
| CPU time of anvil during the backfill | ${(b.anvilCpuMs / 1000).toFixed(2)} s | — |
| all three processes' CPU time ÷ ${availableParallelism()} CPUs: the backfill's floor on this machine, every CPU busy | ${((b.backfillCpuMs + b.serverCpuMs + b.anvilCpuMs) / availableParallelism() / 1000).toFixed(2)} s = ${((b.backfillCpuMs + b.serverCpuMs + b.anvilCpuMs) / availableParallelism() / b.bareMs).toFixed(2)} × the bare fetch | — |
| bare fetch: CPU time of the fetching process and anvil | ${(b.bareCpuMs / 1000).toFixed(2)} s | — |
| live: block → Job created, p50 (${latencies.length} burns, ${BLOCK_TIME_S} s blocks, confirmations ${CONFIRMATIONS}) | ${Math.round(p50)} ms | — |
| live: block → Job created, p99 | ${Math.round(p99)} ms | ≤ ${latencyTarget} ms: ${pass(p99 <= latencyTarget)} |
| memory of the redeemer's process during the backfill: peak | RSS ${mb(b.peakRss)}, heap ${mb(b.peakHeap)} (${mb(b.heapBefore)} before the start) | — |
| heap still live once every Job is created (after a full GC) | ${mb(b.heapLive)} | — |
| memory during the live run: peak | RSS ${mb(peakRss)}, heap ${mb(peakHeap)} | — |

The machine's load: ${loadBefore} before the backfill and ${loadAfterBackfill} after it.
`;
const scaleText = scaleSectionOf(scaled);

console.log(`\n${SECTION}\n\n${section}\n${scaleText}`);
if (process.env.CTK_BENCH_WRITE === "0") process.exit(0);
// Only the figures: the hand-written analysis around them in RESULTS.md stays as it is.
writeGenerated(SECTION, "redeemer", section);
if (scaled.length) writeScaleBlock(scaleText);
console.log(`written to ${RESULTS_FILE}`);
process.exit(0);
