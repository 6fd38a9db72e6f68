/**
 * Building the usage receipt (its format and schema: sdk/receipt.ts) from what the redeemer
 * measured for one job; it is written to the receipts directory before `settle`.
 */
import type { Address } from "viem";
import { PRIORITIES } from "../../sdk/jobSpec.js";
import { RECEIPT_VERSION, type UsageReceipt, usageReceiptSchema } from "../../sdk/receipt.js";
import type { JobState } from "../executor/types.js";
import type { RedemptionRequest } from "../state/types.js";
import { wholeGpuSeconds } from "../state/usage.js";

export interface ReceiptInput {
  chainId: number;
  contract: Address;
  executorKind: "local" | "kubernetes";
  request: RedemptionRequest;
  job: JobState;
  used: bigint;
  now: Date;
}

/** The receipt of a settled job; it is checked against the schema the audit reads receipts with. */
export function buildReceipt({ chainId, contract, executorKind, request, job, used, now }: ReceiptInput): UsageReceipt {
  const last = job.segments.at(-1);
  return usageReceiptSchema.parse({
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
  });
}
