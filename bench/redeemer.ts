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
 * Peak memory is sampled throughout. Results go to bench/RESULTS.md, replacing only the
 * "## Redeemer" section. Scale with CTK_BENCH_REDEMPTIONS (10,000) and CTK_BENCH_LIVE (200);
 * CTK_BENCH_WRITE=0 only prints; CTK_BENCH_SCALE=10000,100000 sets the long histories (empty: none),
 * CTK_BENCH_SCALE_NODE_ARGS adds node flags to their redeemer processes, CTK_BENCH_ONLY=scale runs only those
 * and rewrites only their subsection of RESULTS.md; CTK_BENCH_SCALE_HEAP_PROFILE=<file> writes, per such run, a
 * sampling heap profile of what it promoted to the old generation (bench/redeemerScaleRun.ts); CTK_BENCH_PROFILE=<file.cpuprofile> writes a CPU profile of the
 * benchmark's process covering the backfill only (open it in Chrome DevTools or speedscope), and
 * one of the fake API server's whole life beside it; CTK_BENCH_HEAP_PROFILE=<file.heapprofile>
 * writes a sampling heap profile of what the backfill allocated and still holds at its end.
 */
import { RESULTS_FILE, writeResultSections } from "./results.js";
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
import { historyChain, rpc, type Setup, setUp, spec } from "./history.js";
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

/** CPU seconds a process has used (Linux /proc), or NaN where that cannot be read. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return NaN;
  }
}

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
/** CTK_BENCH_SCALE_UNTIL=ready: each start is measured up to ready only (no claims or launches of the open ones). */
const SCALE_UNTIL_READY = process.env.CTK_BENCH_SCALE_UNTIL === "ready";

/** One measured start of the redeemer in a process of its own (bench/redeemerScaleRun.ts). */
function scaleRun(input: ScaleRunInput): Promise<ScaleRunResult> {
  const child = fork(fileURLToPath(new URL("./redeemerScaleRun.ts", import.meta.url)), [], {
    execArgv: ["--expose-gc", ...(process.env.CTK_BENCH_SCALE_NODE_ARGS ?? "").split(" ").filter(Boolean), "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", (m) => {
      const msg = m as { result?: ScaleRunResult; error?: string };
      if (msg.result) resolve(msg.result);
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
  without: ScaleRunResult;
  with: ScaleRunResult;
  checkpointBytes: number;
}

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
    const once = async (runDir: string, checkpoint: string | undefined): Promise<{ r: ScaleRunResult; blocks: number }> => {
      const { anvil, history } = await historyChain(terminal, SCALE_OPEN);
      const fake = await forkFakeKube(runDir);
      try {
        if (checkpoint) copyFileSync(checkpoint, join(runDir, "redeemer-checkpoint.json"));
        const r = await scaleRun({
          rpcUrl: anvil.rpcUrl,
          deployment: history.deployment,
          kubeconfig: fake.kubeconfig,
          dir: runDir,
          open: SCALE_OPEN,
          kube: KUBE,
          untilReady: SCALE_UNTIL_READY,
          ...(!checkpoint && { saveCheckpointAs: saved }),
        });
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
/** How the long-history figures come about (issue 16): the mechanisms; the figures are the table's. */
const SCALE_ANALYSIS = `How memory is kept from growing with history: a redemption over, once a confirmed log says so and
with nothing left to do, is dropped from memory unless it is among the 1,000 most recent (\`keepDone\`), leaving one
byte (its final status, by id) and a count; the API reads a dropped one from the chain on demand. While the history is
read at start-up, a redemption known only from its logs (its request not read yet, no job) is dropped as soon as they
say it is over, without passing through the 1,000 kept: this process did nothing for it. The history is read in
two passes (lifecycle events, then requests), each from ranges sized by the logs they return; each \`eth_getLogs\`
answer is read as a stream (redeemer/watcher/streamLogs.ts): parsed log by log as its bytes arrive, decoded with the
SDK's fast decoder and handed over in groups of 256, so that neither the answer's text (several MiB for a block
of a few thousand burns, which V8 would allocate straight in the old generation) nor all its logs parsed at once
are ever held. What the read allocates then dies young, in the young generation, instead of being promoted and
growing the old generation until a full collection: the peak up to ready (the history read) is the figure that
follows the length of the history; the peak over the whole run also covers claiming and launching the open ones,
the same work whatever the history. With a checkpoint, only the blocks after it are read, and the open redemptions
come from the checkpoint (the ones over only as a byte each).

Claims before launches (issue 11): every launch waits for its redemption's claim (markRunning) to be mined, so
the open ones are launched at the rate the chain takes the redeemer's claims. One transaction per claim made that
the rate at which anvil mines the redeemer's transactions, a block each, sent one at a time (one nonce sequence):
3.3–5 claims per second on this loaded machine, fewer on the larger state of the 100,000-redemption chain. The
redeemer now claims in batches (redeemer/settler/claimBatcher.ts): the launches waiting for a claim at the same
time go in one \`markRunningBatch\` transaction of up to 256 ids (the contract skips an id no longer requested instead
of reverting, and the receipt's \`RedemptionRunning\` logs say which were claimed), two such transactions in
flight at once; a claim is asked for before a launch slot is taken, so the whole backlog waits in the batcher and
1,000 open redemptions take four transactions. The "claims" rows measure the rate from ready to the last Job;
the ratio between the two histories is what says whether the length of the history changes it.`;

function scaleSectionOf(scaled: ScaleFigures[]): string {
  if (scaled.length === 0) return "";
  const cols = scaled;
  const head = `| measure | ${cols.map((c) => `${c.terminal.toLocaleString("en")} over + ${c.open.toLocaleString("en")} open`).join(" | ")} |${cols.length > 1 ? " ratio, last ÷ first | target |" : ""}`;
  const sep = `|---|${cols.map(() => "--:").join("|")}|${cols.length > 1 ? "--:|---|" : ""}`;
  const s1 = (x: number) => `${(x / 1000).toFixed(2)} s`;
  const row = (label: string, f: (c: ScaleFigures) => number, fmt: (x: number) => string, target?: (ratio: number, last: number) => string) => {
    const values = cols.map(f);
    if (values.some((v) => v === null || Number.isNaN(v))) return `| ${label} | ${values.map(() => "not measured").join(" | ")} |${cols.length > 1 ? " — | — |" : ""}`;
    const ratio = values[values.length - 1]! / values[0]!;
    return `| ${label} | ${values.map(fmt).join(" | ")} |${cols.length > 1 ? ` ${ratio.toFixed(2)} × | ${target ? target(ratio, values[values.length - 1]!) : "—"} |` : ""}`;
  };
  const own = (r: ScaleRunResult) => r.heapLive - r.heapBefore;
  // Not measured (CTK_BENCH_SCALE_UNTIL=ready): NaN, which arrives as null over IPC.
  const backfill = (r: ScaleRunResult) => r.backfillMs ?? NaN;
  const rate = (c: ScaleFigures, r: ScaleRunResult) => c.open / (backfill(r) / 1000);
  const claims = (c: ScaleFigures, r: ScaleRunResult) => c.open / ((backfill(r) - r.readyMs) / 1000);
  const wholeRun = (x: number) => (SCALE_UNTIL_READY ? NaN : x);
  return `
${SCALE_HEADING}

A history generated once and cached (bench/history.ts: real redeem, markRunning, settle and reject transactions
from 8 holders and the redeemer, a few thousand per block, anvil's state file under bench/.cache/): every tenth
redemption settled, the others rejected, then ${SCALE_OPEN.toLocaleString("en")} open ones. Each start runs in a process of its own
(\`node --expose-gc\`, bench/redeemerScaleRun.ts) against a fresh fake API server: first without a checkpoint
(the whole history read), then, on the same chain state loaded afresh, from the checkpoint the first start wrote
at the end of its history read.${SCALE_UNTIL_READY ? " This run stopped each start at ready (`CTK_BENCH_SCALE_UNTIL=ready`): the claims and launches of the open ones were not measured." : ""} Every figure is from the start to every open redemption's Job created unless the
row says "up to ready"; memory is the redeemer's process (peak sampled every 20 ms; live heap after a full GC at
that moment, and the same minus the heap before the start: the redeemer's own). Measured ${when}, Node ${process.version}.

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
  (_r, last) => `≤ 2 s: ${pass(last <= 2000)}`,
)}
${row(`start → ${SCALE_OPEN.toLocaleString("en")} Jobs created, without a checkpoint`, (c) => backfill(c.without), s1)}
${row(`start → ${SCALE_OPEN.toLocaleString("en")} Jobs created, from the checkpoint`, (c) => backfill(c.with), s1)}
${row(
  "open redemptions ÷ (start → every Job created), from the checkpoint, per second",
  (c) => rate(c, c.with),
  (x) => Math.round(x).toLocaleString("en"),
)}
${row(
  "claims: open redemptions ÷ (ready → every Job created), without a checkpoint, per second",
  (c) => claims(c, c.without),
  (x) => x.toFixed(1),
  (r) => `unchanged: ${pass(r >= 0.8)} (within 20 %)`,
)}
${row(
  "claims: the same, from the checkpoint, per second",
  (c) => claims(c, c.with),
  (x) => x.toFixed(1),
  (r) => `unchanged: ${pass(r >= 0.8)} (within 20 %)`,
)}
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

${SCALE_ANALYSIS}
`;
}

const pass = (ok: boolean) => (ok ? "**PASS**" : "**FAIL**");
/** The memory target: at most 1.5 × the smallest history's figure. */
const atMostHalfMore = (r: number) => `≤ 1.5 ×: ${pass(r <= 1.5)}`;
const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
const count = (x: number) => x.toLocaleString("en");
const SCALE_HEADING = "### At company scale: a long history (issue 16)";

/** Replaces (or adds) the long-history subsection at the end of the redeemer section of RESULTS.md. */
function writeScaleSection(text: string): void {
  const existing = readFileSync(RESULTS_FILE, "utf8");
  const start = existing.indexOf(SECTION);
  if (start === -1) throw new Error(`${RESULTS_FILE} has no "${SECTION}" section: run the whole benchmark first`);
  let end = existing.indexOf("\n## ", start + SECTION.length);
  if (end === -1) end = existing.length;
  const sub = existing.indexOf(SCALE_HEADING, start);
  const from = sub !== -1 && sub < end ? sub : end;
  const updated = `${existing.slice(0, from).trimEnd()}\n\n${text.trim()}\n${existing.slice(end)}`;
  writeFileSync(RESULTS_FILE, updated);
}

if (process.env.CTK_BENCH_ONLY === "scale") {
  // Only the long-history runs: their subsection of RESULTS.md is replaced, the rest left as it was.
  clearInterval(sampler);
  const scaled: ScaleFigures[] = [];
  for (const terminal of SCALE_TERMINAL) scaled.push(await scale(terminal));
  const text = scaleSectionOf(scaled);
  console.log(text);
  if (process.env.CTK_BENCH_WRITE !== "0" && scaled.length) {
    writeScaleSection(text);
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

/** Where the time goes: from profiles (CTK_BENCH_PROFILE), updated by hand when the code changes. */
const ANALYSIS = `What changed (issue 16, claims in batches): since issue 11 each Job waits for its redemption's claim to be mined,
so the backfill now includes the 10,000 claims, which used to go on after the last Job, outside the measured time.
One transaction per claim made the backfill the rate at which anvil mines the redeemer's transactions (3.3–5 per
second on this machine). The claims now go in \`markRunningBatch\` transactions of up to 256 (redeemer/settler/claimBatcher.ts):
40 transactions for 10,000 redemptions. Interleaved on 2026-11-30 (03:00–03:02 UTC, load average 3.7–4.8 on 2 CPUs,
\`CTK_BENCH_LIVE=0 CTK_BENCH_SCALE= CTK_BENCH_WRITE=0 npm run bench:redeemer\`), commit 87444eb (before the
structure work and before issue 11: Jobs first, markRunning after) against this tree: backfill 4.15 s and 4.22 s
(2,408 and 2,371 redemptions/s, 0.29 and 0.25 ms of redeemer CPU per redemption, anvil 0.19 and 0.18 s) against 6.38 s and 7.17 s
(1,568 and 1,394 redemptions/s, 0.34 and 0.35 ms, anvil 1.73 and 1.76 s). The difference is the claims' own work, now
inside the measured time: anvil's CPU (executing and mining the 40 batches, answering their receipts and the
watcher's reads of 10,000 \`RedemptionRunning\` logs) on the same 2 CPUs, and in the redeemer the claims' job
references (a keccak256 each, 0.18 s in a profile), their transactions and the logs read back. The bare fetch is
not comparable across the two trees (the SDK's streaming log reader made it about 3 × faster: 0.22–0.27 s against
0.66–0.77 s), so neither is the ratio to it. Live latency now includes the claim's block as well: with 1 s blocks
the claim is mined in the block after the burn's confirmation, about one block more than before issue 11.

What changed (issue 4, third round): Jobs are created over a few persistent HTTP/1.1 connections with
requests pipelined on each (8 in flight per connection, 4 connections), the answers read straight off the socket
(redeemer/executor/kubernetes/jobPoster.ts, http1.ts) instead of through node:http. Against a trivial node:http
server in another process, 10,000 creates of a 2.5 KB body cost the client 161–199 µs of CPU each through a
keep-alive node:http agent and 41–46 µs pipelined, and the server 139–143 µs and 99–125 µs. In this benchmark:
backfill 6.1–6.5 s → 3.8–4.8 s at load ≈ 1–2, redeemer CPU 0.72 → 0.39–0.49 ms and fake API server CPU 0.33 →
0.20–0.22 ms per redemption. Most of the gain is the client, not the pipelining itself: in interleaved runs,
pipelining 1 (32 connections, one request each at a time), 8 and 32 did not differ beyond the noise.
Earlier rounds: the history read lifecycle-first and then the requests in growing chunks, so launching starts
with the first chunk; manifests serialised once; the watch cache slimmed; the fake API server serialising each
object once. Before issue 4: 68.3 s = 146/s, 24.4 × the bare fetch, 3.23 ms of CPU per redemption.

Tried and dropped: a watch over plain HTTP/1.1 (no fetch, web streams or readline). The Jobs watch costs the same
either way (685–787 ms against 735 ms in profiles, backfill times within the noise in interleaved runs), because
JSON.parse of each ADDED event is most of it. A 64 MiB young generation (\`--max-semi-space-size=64\`) speeds
the backfill up by ~12 % but the bare fetch, in the same process, by as much, so the ratio does not move.

Where the time goes (CPU profile of the 10,000-redemption backfill, \`CTK_BENCH_PROFILE\`, share of the redeemer
process's busy main thread): garbage collection 22 % (69 scavenges, 636 ms, no full collection), reading and
decoding the logs and checking each request against the policy 20 %, plus the RPC transport (undici, viem) 10 %,
the Jobs watch 16 % (JSON.parse of each created Job's ADDED event), the create path 9 %, building the manifests
and the executor's retry and concurrency limits 6 %, the engine 5 %, policy and state machine 2 %.

Why ≤ 3 × is still missed: the benchmark's three processes (the redeemer, the fake API server and anvil) share
2 vCPUs, and together they need more CPU time than 3 × the bare fetch leaves. The "floor" row above divides their
CPU time by the CPUs: even with both CPUs busy the whole time, the backfill could not be faster than that, and that
is already more than 3 × the bare fetch. Meeting 3 × here would need roughly a fifth less CPU across the redeemer
and the API server together, and both CPUs busy throughout. About a third of that CPU time is the fake API
server's (0.2 ms per Job, most of it node:http), which a deployment runs elsewhere. Of the redeemer's own
0.4 ms per redemption, about 0.1 ms is the same log fetch and decode as the bare fetch, and the Jobs watch
(JSON.parse of each created Job) and the garbage collection together about 0.16 ms. The machine is shared, and runs of the same code
vary by ± 30 % with the load (3.6–6.9 s today).
Memory: the peak heap is mostly garbage not yet collected (the log fetch's JSON and per-request objects); what
the redeemer still holds once every Job is created is the live figure above minus the heap before the start
(about 7 KB per redemption: its record, its request and verdict, and the watch's slimmed copy of its Job).
`;

/** The figures of the run before issue 16 (2026-11-22, load ≈ 1.2), to compare with across machine loads. */
const PREVIOUS = { backfillS: 3.98, bareS: 0.88, ratio: 4.5, cpuMsPerRedemption: 0.42, liveHeapMiB: 238 };
const previousRun = `Compared with the run before issue 16 (2026-11-22, at load ≈ 1.2: backfill ${PREVIOUS.backfillS} s, bare fetch ${PREVIOUS.bareS} s,
${PREVIOUS.ratio.toFixed(2)} ×, ${PREVIOUS.cpuMsPerRedemption} ms of redeemer CPU per redemption): this run's bare fetch alone took ${(b.bareMs / 1000 / PREVIOUS.bareS).toFixed(1)} × as long, so
wall-clock figures reflect the machine's load more than the code; the ratio to the bare fetch (${ratio.toFixed(2)} ×) and the CPU time
per redemption (${(b.backfillCpuMs / N).toFixed(2)} ms) are what compare across loads.`;

const section = `${SECTION}

Measured ${when} with the Kubernetes executor (real \`@kubernetes/client-node\`) against the in-repo fake API server
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

${previousRun}

Backfill time runs from \`startRedeemer\` (chain id check, executor list, log fetch, policy checks) to the
last Job created; each Job is created once its redemption's claim is mined (claims go in markRunningBatch
transactions of up to 256). The machine is shared:
its load was ${loadBefore} before the backfill and ${loadAfterBackfill} after it. Live latency runs from the moment the burn's block
first answered \`eth_blockNumber\` (polled every 2 ms) to the executor's create call returning; with one
confirmation it includes the wait for the next block (${BLOCK_TIME_S * 1000} ms).
${ANALYSIS}
${scaleSectionOf(scaled)}`;

console.log(`\n${section}`);
if (process.env.CTK_BENCH_WRITE === "0") process.exit(0);
writeResultSections({ [SECTION]: section });
console.log(`written to ${RESULTS_FILE}`);
process.exit(0);
