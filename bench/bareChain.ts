/**
 * The chain's own pace, with no redeemer: on an anvil that is about to be handed to a redeemer,
 * the same claims the redeemer will send (markRunningBatch transactions for the open ids, in
 * batches of the same size, as many in flight, receipts polled as often), an empty block and a
 * trivial transaction, all timed, inside an `evm_snapshot` … `evm_revert` so the chain the
 * redeemer then starts on is the one it would have found. The baseline of the scale benchmark's
 * claims (bench/redeemer.ts): the redeemer's claims per second ÷ these is its own share.
 */
import { readFileSync } from "node:fs";
import { type Address, encodeEventTopics, encodeFunctionData, type Hex, toHex } from "viem";
import { computeTokenAbi } from "../sdk/generated/abi.js";
import { jobRefFor } from "../sdk/redemptions.js";
import { jobNameFor } from "../redeemer/executor/types.js";
import { claimBatchGas } from "../redeemer/settler/claimBatcher.js";
import { rpcAt as rpc } from "../devkit/localChain.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds a process has used (Linux /proc), or NaN where that cannot be read. */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return NaN;
  }
}

export interface BareChainOptions {
  rpcUrl: string;
  contract: Address;
  /** The redeemer's account (unlocked in anvil: anvil signs). */
  from: Address;
  /** The open ids, claimed in this order (the bench passes them as the redeemer would claim them: every open one, in id order). */
  ids: bigint[];
  /** Claims per transaction and transactions in flight: the redeemer's (config tx.claimBatch, tx.claimBatchesInFlight). */
  batch: number;
  inFlight: number;
  /** How often a receipt is polled: the redeemer's (bench config). */
  receiptPollMs: number;
  /** Empty blocks and trivial transactions timed, each. */
  samples?: number;
  /** anvil's process, for its CPU time during the claims. */
  anvilPid?: number;
}

export interface BareChainFigures {
  /** First send → last receipt of the claims. */
  claimsMs: number;
  /** Each claim transaction, send → receipt (in the order sent), and its ids. */
  batches: { ids: number; ms: number }[];
  /** Each `evm_mine` of an empty block. */
  emptyMineMs: number[];
  /** Each 0-value self-transfer, send → receipt (polled every 2 ms). */
  transferMs: number[];
  /** Blocks the claims were mined in. */
  blocks: number;
  /** anvil's CPU time from the first claim sent to the last receipt. */
  claimsAnvilCpuMs: number;
  /** anvil's CPU time per empty block and per trivial transaction (averages over the samples). */
  emptyMineCpuMs: number;
  transferCpuMs: number;
  /** Each `eth_call` of a full batch's markRunningBatch (what the redeemer runs before its first batches). */
  callMs: number[];
}

const RUNNING = encodeEventTopics({ abi: computeTokenAbi, eventName: "RedemptionRunning" })[0];

async function receipt(rpcUrl: string, hash: Hex, pollMs: number): Promise<{ status: string; logs: { topics: Hex[] }[] }> {
  for (;;) {
    const r = (await rpc(rpcUrl, "eth_getTransactionReceipt", [hash])) as { status: string; logs: { topics: Hex[] }[] } | null;
    if (r) return r;
    await sleep(pollMs);
  }
}

export async function measureBareChain(o: BareChainOptions): Promise<BareChainFigures> {
  const head = await rpc(o.rpcUrl, "eth_blockNumber");
  const snapshot = (await rpc(o.rpcUrl, "evm_snapshot")) as string;
  const out = await measure(o).then(
    (figures) => ({ figures }),
    (err: unknown) => ({ err }),
  );
  const reverted = await rpc(o.rpcUrl, "evm_revert", [snapshot]);
  if (!reverted || (await rpc(o.rpcUrl, "eth_blockNumber")) !== head) throw new Error("evm_revert failed: the chain the redeemer starts on is not the one measured");
  if ("err" in out) throw out.err;
  return out.figures;
}

async function measure(o: BareChainOptions): Promise<BareChainFigures> {
  const samples = o.samples ?? 5;
  const data = (ids: bigint[]): Hex =>
    encodeFunctionData({ abi: computeTokenAbi, functionName: "markRunningBatch", args: [ids, ids.map((id) => jobRefFor("kubernetes", jobNameFor(id)))] });
  // A full batch's call, as the redeemer runs before sending until a batch has gone through.
  const callMs: number[] = [];
  const probeIds = o.ids.slice(0, o.batch);
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await rpc(o.rpcUrl, "eth_call", [{ from: o.from, to: o.contract, data: data(probeIds), gas: toHex(claimBatchGas(probeIds.length)) }, "latest"]);
    callMs.push(performance.now() - t);
  }
  const emptyMineMs: number[] = [];
  const mineCpu0 = cpuSecondsOf(o.anvilPid);
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await rpc(o.rpcUrl, "evm_mine");
    emptyMineMs.push(performance.now() - t);
  }
  const emptyMineCpuMs = ((cpuSecondsOf(o.anvilPid) - mineCpu0) * 1000) / samples;
  let nonce = Number(BigInt((await rpc(o.rpcUrl, "eth_getTransactionCount", [o.from, "pending"])) as string));
  const transferMs: number[] = [];
  const transferCpu0 = cpuSecondsOf(o.anvilPid);
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const hash = (await rpc(o.rpcUrl, "eth_sendTransaction", [{ from: o.from, to: o.from, value: "0x0", gas: "0x5208", nonce: toHex(nonce++) }])) as Hex;
    await receipt(o.rpcUrl, hash, 2);
    transferMs.push(performance.now() - t);
  }
  const transferCpuMs = ((cpuSecondsOf(o.anvilPid) - transferCpu0) * 1000) / samples;
  // The claims: batches taken in order, `inFlight` at once, each sent as soon as a slot frees.
  const chunks: bigint[][] = [];
  for (let i = 0; i < o.ids.length; i += o.batch) chunks.push(o.ids.slice(i, i + o.batch));
  const batches: { ids: number; ms: number }[] = [];
  let next = 0;
  let proven = false;
  const block0 = BigInt((await rpc(o.rpcUrl, "eth_blockNumber")) as string);
  const t0 = performance.now();
  const cpu0 = cpuSecondsOf(o.anvilPid);
  await Promise.all(
    Array.from({ length: o.inFlight }, async () => {
      while (next < chunks.length) {
        const ids = chunks[next++]!;
        const tx = { from: o.from, to: o.contract, data: data(ids), gas: toHex(claimBatchGas(ids.length)) };
        const t = performance.now();
        if (!proven) await rpc(o.rpcUrl, "eth_call", [tx, "latest"]);
        const hash = (await rpc(o.rpcUrl, "eth_sendTransaction", [{ ...tx, nonce: toHex(nonce++) }])) as Hex;
        const r = await receipt(o.rpcUrl, hash, o.receiptPollMs);
        const claimed = r.logs.filter((l) => l.topics[0] === RUNNING).length;
        if (r.status !== "0x1" || claimed !== ids.length) throw new Error(`bare claim transaction ${hash}: status ${r.status}, ${claimed} of ${ids.length} claimed`);
        proven = true;
        batches.push({ ids: ids.length, ms: performance.now() - t });
      }
    }),
  );
  const claimsMs = performance.now() - t0;
  const claimsAnvilCpuMs = (cpuSecondsOf(o.anvilPid) - cpu0) * 1000;
  const blocks = Number(BigInt((await rpc(o.rpcUrl, "eth_blockNumber")) as string) - block0);
  return { claimsMs, claimsAnvilCpuMs, blocks, batches, emptyMineMs, emptyMineCpuMs, transferMs, transferCpuMs, callMs };
}
