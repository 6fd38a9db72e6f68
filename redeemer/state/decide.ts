/**
 * decide(record, now) → the one next action for a redemption, or nothing. Pure.
 *
 *   Requested, spec refused by policy ............ reject(reason)
 *   Requested, job exists (any phase) ............ markRunning          (launched: the holder can no longer reclaim)
 *   Requested, executor refused the launch ....... reject(reason)
 *   Requested, launch retries used up ............ probe, then reject(LAUNCH_FAILED) if still no job
 *   Requested, nothing yet ....................... launch               (idempotent: the job name is the id's)
 *   Running, job finished ........................ settle(used ≤ reserved)
 *   Running, no job known ........................ probe, then reject(LAUNCH_FAILED)
 *   Settled / Rejected / Reclaimed / gone, job still active ... remove
 *   only known from the executor ................. lookup (read the chain)
 *
 * One action at a time per redemption: nothing is decided while one is in flight, or before a
 * back-off expires.
 */
import { REJECT_REASONS, REJECT_REASON_TEXT } from "../../sdk/reasons.js";
import { isFinishedPhase, isTerminal } from "./reduce.js";
import type { Action, RedemptionRecord } from "./types.js";
import { usedUnits } from "./usage.js";

const launchFailed = (detail: string) => ({ code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED" as const, detail });

export function decide(r: RedemptionRecord, now: number): Action | undefined {
  if (r.inflight) return undefined;
  if (r.retryAt !== undefined && r.retryAt > now) return undefined;
  const { id, job } = r;
  const jobActive = job !== undefined && !isFinishedPhase(job.phase);

  if (r.chain === "None") {
    if (r.gone) return jobActive && !r.removed ? { type: "remove", id } : undefined;
    if (job && !r.lookedUp) return { type: "lookup", id };
    return undefined;
  }

  if (isTerminal(r.chain)) return jobActive && !r.removed ? { type: "remove", id } : undefined;

  if (r.chain === "Requested") {
    if (r.verdict && !r.verdict.ok) {
      return { type: "reject", id, rejection: { code: r.verdict.code, reason: r.verdict.reason, detail: r.verdict.detail } };
    }
    if (job) return { type: "markRunning", id, jobName: job.name };
    if (r.launchRefused) return { type: "reject", id, rejection: r.launchRefused };
    if (r.launchExhausted) {
      if (!r.probed) return { type: "probe", id };
      return { type: "reject", id, rejection: launchFailed(`${REJECT_REASON_TEXT.LAUNCH_FAILED} after ${r.launchAttempts} attempts: ${r.lastError ?? "unknown error"}`) };
    }
    if (!r.verdict) return undefined; // the request event has not been read yet
    return { type: "launch", id, request: r.verdict.launch };
  }

  // Running
  if (!job) {
    if (!r.probed) return { type: "probe", id };
    return { type: "reject", id, rejection: launchFailed("the executor has no job for this running redemption") };
  }
  if (!isFinishedPhase(job.phase)) return undefined;
  if (!r.request) return undefined; // cannot price usage without the request
  const used = usedUnits(job.gpuSeconds, r.request.multiplierBps, r.request.reserved);
  return { type: "settle", id, used, reserved: r.request.reserved, job, request: r.request };
}
