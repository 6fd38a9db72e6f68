/** What the API shows of a redemption: JSON-safe (ids and units as decimal strings). */
import { PRIORITIES } from "../../sdk/jobSpec.js";
import type { StoredReceipt } from "../settler/receiptStore.js";
import { phaseOf } from "../state/redemptionBook.js";
import type { RedemptionRecord } from "../state/types.js";

export interface RedemptionView {
  id: string;
  status: string;
  phase: string;
  holder: string | null;
  classId: number | null;
  className: string | null;
  gpus: number | null;
  seconds: number | null;
  priority: string | null;
  reservedUnits: string | null;
  usedUnits: string | null;
  refundedUnits: string | null;
  specHash: string | null;
  /** The parsed spec when it passed the policy; otherwise its text, if it is UTF-8. */
  spec: unknown;
  block: string | null;
  job: {
    name: string;
    phase: string;
    segments: unknown[];
    gpuSeconds: number;
    exitCode: number | null;
    reason: string | null;
    /** The job's process was stopped from outside (the redeemer or its machine stopped while it ran). */
    interrupted: boolean;
    /** Where the job's output is: a file on the redeemer's machine, or how to read it (kubectl). */
    log: string | null;
  } | null;
  rejection: { code: number; reason: string | null; detail: string } | null;
  receipt: { hash: string; content: unknown } | null;
  transactions: { requested: string | null; running: string | null; settled: string | null; rejected: string | null; reclaimed: string | null };
  launchAttempts: number;
  lastError: string | null;
}

function specOf(r: RedemptionRecord): unknown {
  if (r.verdict?.ok) return r.verdict.spec;
  if (!r.request) return null;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(r.request.specBytes);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  } catch {
    return null;
  }
}

/** Where a job's log can be read, by job name (the executor decides). */
export type JobLogLocator = (jobName: string) => string | undefined;

export function redemptionView(r: RedemptionRecord, receipt?: StoredReceipt, jobLog?: JobLogLocator): RedemptionView {
  const q = r.request;
  const used = r.settlement?.used;
  const refunded = r.settlement?.refunded ?? (q && used !== undefined ? q.reserved - used : r.chain === "Rejected" || r.chain === "Reclaimed" ? q?.reserved : undefined);
  return {
    id: r.id.toString(),
    status: r.chain,
    phase: phaseOf(r),
    holder: q?.holder ?? null,
    classId: q?.classId ?? null,
    className: q?.hardwareClass?.name ?? null,
    gpus: q?.gpus ?? null,
    seconds: q?.seconds ?? null,
    priority: q ? (PRIORITIES[q.priority] ?? null) : null,
    reservedUnits: q?.reserved.toString() ?? null,
    usedUnits: used?.toString() ?? (r.chain === "Rejected" || r.chain === "Reclaimed" ? "0" : null),
    refundedUnits: refunded?.toString() ?? null,
    specHash: q?.specHash ?? null,
    spec: specOf(r),
    block: q?.blockNumber.toString() ?? null,
    job: r.job
      ? {
          name: r.job.name,
          phase: r.job.phase,
          segments: r.job.segments,
          gpuSeconds: r.job.gpuSeconds,
          exitCode: r.job.exitCode ?? null,
          reason: r.job.reason ?? null,
          interrupted: r.job.reason === "Interrupted",
          log: jobLog?.(r.job.name) ?? null,
        }
      : null,
    rejection: rejectionOf(r),
    receipt: receipt ? { hash: receipt.hash, content: receipt.receipt } : null,
    transactions: {
      requested: q?.transactionHash ?? null,
      running: r.txs.running ?? null,
      settled: r.txs.settled ?? null,
      rejected: r.txs.rejected ?? null,
      reclaimed: r.txs.reclaimed ?? null,
    },
    launchAttempts: r.launchAttempts,
    lastError: r.lastError ?? null,
  };
}

/** The reason with the redeemer's own detail where it decided it, else what the chain says. */
function rejectionOf(r: RedemptionRecord): RedemptionView["rejection"] {
  const decided = r.verdict && !r.verdict.ok ? { code: r.verdict.code, reason: r.verdict.reason, detail: r.verdict.detail } : r.launchRefused;
  const chosen = r.chain === "Rejected" ? (decided && decided.code === r.rejection?.code ? decided : r.rejection) : r.chain === "Requested" ? decided : undefined;
  return chosen ? { code: chosen.code, reason: chosen.reason ?? null, detail: chosen.detail } : null;
}
