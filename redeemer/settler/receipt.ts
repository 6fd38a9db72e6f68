/**
 * The usage receipt: what the redeemer measured for one job, written as JSON to the receipts
 * directory before `settle`; keccak256 of the file's exact bytes is the `receiptHash` on-chain,
 * so anyone holding the file can check it against the chain.
 */
import type { Address } from "viem";
import { PRIORITIES } from "../../sdk/jobSpec.js";
import type { JobState } from "../executor/types.js";
import type { RedemptionRequest } from "../state/types.js";
import { wholeGpuSeconds } from "../state/usage.js";

export const RECEIPT_VERSION = 1;

export interface UsageReceipt {
  version: typeof RECEIPT_VERSION;
  chainId: number;
  contract: Address;
  redemptionId: string;
  holder: Address;
  className: string | null;
  gpuProduct: string | null;
  priority: string;
  executor: "local" | "kubernetes";
  jobName: string;
  node: string | null;
  phase: JobState["phase"];
  exitCode: number | null;
  reason: string | null;
  /** Unix seconds; a preempted and resumed job has several. */
  segments: { start: number; end: number | null; node: string | null; gpuProduct: string | null }[];
  gpus: number;
  allottedSeconds: number;
  /** As measured by the executor. */
  gpuSeconds: number;
  multiplierBps: number;
  reservedUnits: string;
  usedUnits: string;
  refundedUnits: string;
  /** ISO-8601, when the receipt was written. */
  issuedAt: string;
}

export interface ReceiptInput {
  chainId: number;
  contract: Address;
  executorKind: "local" | "kubernetes";
  request: RedemptionRequest;
  job: JobState;
  used: bigint;
  now: Date;
}

export function buildReceipt({ chainId, contract, executorKind, request, job, used, now }: ReceiptInput): UsageReceipt {
  const last = job.segments.at(-1);
  return {
    version: RECEIPT_VERSION,
    chainId,
    contract,
    redemptionId: request.id.toString(),
    holder: request.holder,
    className: request.hardwareClass?.name ?? null,
    gpuProduct: last?.gpuProduct ?? request.hardwareClass?.productLabel ?? null,
    priority: PRIORITIES[request.priority] ?? String(request.priority),
    executor: executorKind,
    jobName: job.name,
    node: last?.node ?? null,
    phase: job.phase,
    exitCode: job.exitCode ?? null,
    reason: job.reason ?? null,
    segments: job.segments.map((s) => ({ start: s.start, end: s.end ?? null, node: s.node ?? null, gpuProduct: s.gpuProduct ?? null })),
    gpus: request.gpus,
    allottedSeconds: request.seconds,
    gpuSeconds: Number(wholeGpuSeconds(job.gpuSeconds)),
    multiplierBps: request.multiplierBps,
    reservedUnits: request.reserved.toString(),
    usedUnits: used.toString(),
    refundedUnits: (request.reserved - used).toString(),
    issuedAt: now.toISOString(),
  };
}

/** The exact bytes written to disk and hashed. */
export function encodeReceipt(receipt: UsageReceipt): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(receipt, null, 2)}\n`);
}
