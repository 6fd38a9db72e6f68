/**
 * One measured start of the redeemer, in a process of its own (forked by bench/redeemer.ts with
 * `--expose-gc`), so that its memory is the redeemer's alone: not the benchmark's set-up, nor
 * an earlier run's. IPC: it receives a ScaleRunInput, starts the redeemer, waits until it is ready
 * and every open redemption's Job is created (saying `{ phase: "ready" }` and `{ phase: "done" }`
 * at those moments, for the parent to read anvil's CPU time), takes a full GC, and answers a ScaleRunResult.
 */
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { getHeapStatistics } from "node:v8";
import { join } from "node:path";
import type { Deployment } from "../sdk/deployment.js";
import { parseRedeemerConfig, startRedeemer } from "../redeemer/index.js";
import { ANVIL_KEYS } from "../devkit/startAnvil.js";

export interface ScaleRunInput {
  rpcUrl: string;
  deployment: Deployment;
  kubeconfig: string;
  dir: string;
  /** Open redemptions whose Jobs must be created. */
  open: number;
  kube: Record<string, unknown>;
  /** Stop at ready instead of waiting for every open redemption's Job (backfill figures then NaN). */
  untilReady?: boolean;
  /** The redeemer's tx.claimBatchesInFlight. */
  claimBatchesInFlight: number;
  /** Copy the checkpoint written at the end of the history read here (for a later run). */
  saveCheckpointAs?: string;
}

export interface ScaleRunResult {
  readyMs: number;
  backfillMs: number;
  heapBefore: number;
  heapLive: number;
  peakRss: number;
  peakHeap: number;
  /** Peaks from the start to ready (the history read, before the open ones are claimed and launched). */
  peakRssReady: number;
  peakHeapReady: number;
  inMemory: number;
  dropped: number;
  fromCheckpoint: boolean;
  cpuMs: number;
  /** The process's CPU time up to ready. */
  cpuReadyMs: number;
  /** Its CPU time per second over the 2 s after the last Job, nothing left to do: what its polling of the chain costs. */
  idleCpuMsPerS: number;
  /** Each claim transaction (markRunningBatch), send → receipt, in the order the receipts came. */
  claimBatchesMs: number[];
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(input: ScaleRunInput): Promise<ScaleRunResult> {
  // The executor's modules first: a one-off start-up cost, not the redeemer's memory per redemption.
  await import("../redeemer/executor/kubernetes/index.js");
  await import("@kubernetes/client-node");
  gc!();
  const heapBefore = getHeapStatistics().used_heap_size;
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size);
  };
  const sampler = setInterval(sample, 20);
  const checkpointFile = join(input.dir, "redeemer-checkpoint.json");
  const config = parseRedeemerConfig({
    rpcUrl: input.rpcUrl,
    deployment: input.deployment,
    privateKey: ANVIL_KEYS[1],
    confirmations: 0,
    pollIntervalMs: 20,
    maxBlockRange: 5_000,
    receiptsDir: join(input.dir, "receipts"),
    api: { port: 0 },
    logLevel: "warn",
    policy: { allowedRegistries: ["registry.example.com"] },
    executor: { kind: "kubernetes", kubernetes: { ...input.kube, resyncMs: 600_000 }, kubeconfig: input.kubeconfig },
    launch: { concurrency: 64 },
    tx: { concurrency: 16, claimBatchesInFlight: input.claimBatchesInFlight },
    checkpoint: { file: checkpointFile, intervalMs: 3_600_000 },
  });
  // CTK_BENCH_SCALE_HEAP_PROFILE=<file.heapprofile>: a sampling profile of what the start allocated that
  // lived long enough to be promoted (survived the young generation) and died later: the old
  // generation's garbage, which is what makes the peak RSS. Plus what is still live at the end.
  const heapProfileFile = process.env.CTK_BENCH_SCALE_HEAP_PROFILE;
  const heapProfiler = heapProfileFile ? new Session() : undefined;
  if (heapProfiler) {
    heapProfiler.connect();
    await heapProfiler.post("HeapProfiler.enable");
    await heapProfiler.post("HeapProfiler.startSampling", {
      samplingInterval: 32 * 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: process.env.CTK_BENCH_SCALE_HEAP_ALL === "1",
    });
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const redeemer = await startRedeemer(config);
  let readyAt = NaN;
  let peakRssReady = NaN;
  let peakHeapReady = NaN;
  let cpuReadyMs = NaN;
  void redeemer.ready.then(() => {
    readyAt = performance.now();
    const c = process.cpuUsage(cpu0);
    cpuReadyMs = (c.user + c.system) / 1000;
    process.send?.({ phase: "ready" });
    sample();
    peakRssReady = peakRss;
    peakHeapReady = peakHeap;
    console.error(
      `[bench:redeemer] ready after ${Math.round(readyAt - t0)} ms (${redeemer.fromCheckpoint ? "from the checkpoint" : "history read in full"}), peak RSS so far ${(peakRss / 2 ** 20).toFixed(0)} MiB, heap ${(peakHeap / 2 ** 20).toFixed(0)} MiB`,
    );
  });
  // The redeemer's claim transactions, timed by the redeemer itself (its claim-batch metric).
  const claimBatchesMs: number[] = [];
  const histogram = redeemer.metrics.claimBatchSeconds;
  const observe = histogram.observe.bind(histogram);
  histogram.observe = ((...a: Parameters<typeof observe>) => {
    if (typeof a[0] === "number") claimBatchesMs.push(a[0] * 1000);
    observe(...a);
  }) as typeof histogram.observe;
  let launched = 0;
  const hook = redeemer.book.onChange;
  redeemer.book.onChange = (after, before) => {
    hook?.(after, before);
    if (after.times.launched !== undefined && before?.times.launched === undefined) launched++;
  };
  while ((!input.untilReady && launched < input.open) || Number.isNaN(readyAt)) await sleep(5);
  const backfillMs = input.untilReady ? NaN : performance.now() - t0; // NaN arrives as null over IPC
  process.send?.({ phase: "done" });
  const cpu = process.cpuUsage(cpu0);
  let idleCpuMsPerS = NaN;
  if (!input.untilReady) {
    const idle0 = process.cpuUsage();
    const i0 = performance.now();
    await sleep(2_000);
    const idle = process.cpuUsage(idle0);
    idleCpuMsPerS = (idle.user + idle.system) / (performance.now() - i0);
  }
  sample();
  clearInterval(sampler);
  gc!();
  const heapLive = getHeapStatistics().used_heap_size;
  if (heapProfiler) {
    const { profile } = await heapProfiler.post("HeapProfiler.stopSampling");
    writeFileSync(
      heapProfileFile!.replace(/(\.heapprofile)?$/, input.saveCheckpointAs ? "-without-checkpoint.heapprofile" : "-with-checkpoint.heapprofile"),
      JSON.stringify(profile),
    );
    heapProfiler.disconnect();
  }
  const d = redeemer.book.droppedCount;
  const result: ScaleRunResult = {
    readyMs: readyAt - t0,
    backfillMs,
    heapBefore,
    heapLive,
    peakRss,
    peakHeap,
    peakRssReady,
    peakHeapReady,
    inMemory: redeemer.book.size,
    dropped: d.settled + d.rejected + d.reclaimed,
    fromCheckpoint: redeemer.fromCheckpoint,
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuReadyMs,
    idleCpuMsPerS,
    claimBatchesMs,
  };
  if (input.saveCheckpointAs) {
    // Written after the history read (the first sync), before any markRunning of the open ones is read.
    for (let i = 0; i < 400 && !existsSync(checkpointFile); i++) await sleep(50);
    copyFileSync(checkpointFile, input.saveCheckpointAs);
  }
  await redeemer.stop();
  return result;
}

process.once("message", (input) => {
  run(input as ScaleRunInput).then(
    (result) => {
      process.send!({ result });
      process.exit(0);
    },
    (err: unknown) => {
      process.send!({ error: (err as Error)?.stack ?? String(err) });
      process.exit(1);
    },
  );
});
