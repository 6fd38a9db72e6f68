/**
 * reduce(record, event) → record: everything the redeemer learns goes through here. Pure.
 *
 * The on-chain status only moves forward (None < Requested < Running < Settled | Rejected |
 * Reclaimed), so events can arrive late, twice or out of order — a confirmed log after our own
 * receipt, a restart that replays history — and the record ends up the same.
 */
import { PRIORITIES } from "../../sdk/jobSpec.js";
import type { RedemptionStatusName } from "../../sdk/redemptions.js";
import { backoffMs } from "../../sdk/retry.js";
import { REJECT_REASONS, reasonName, REJECT_REASON_TEXT } from "../../sdk/reasons.js";
import { checkRedemption } from "../policy/checkRedemption.js";
import type { MachineConfig, MachineEvent, RedemptionRecord, RedemptionRequest, Verdict } from "./types.js";

const RANK: Record<RedemptionStatusName, number> = { None: 0, Requested: 1, Running: 2, Settled: 3, Rejected: 3, Reclaimed: 3 };

export const isTerminal = (s: RedemptionStatusName): boolean => RANK[s] === 3;

export function emptyRecord(id: bigint): RedemptionRecord {
  return {
    id,
    chain: "None",
    gone: false,
    probed: false,
    lookedUp: false,
    launchAttempts: 0,
    launchExhausted: false,
    txAttempts: 0,
    removed: false,
    txs: {},
    times: {},
  };
}

/** The policy verdict on a request: the launch request if it passes, the reject reason if not. */
export function verdictFor(request: RedemptionRequest, config: Pick<MachineConfig, "policy">): Verdict {
  if (!request.hardwareClass) {
    return { ok: false, reason: "CLASS_UNAVAILABLE", code: REJECT_REASONS.CLASS_UNAVAILABLE, detail: `hardware class ${request.classId} is not defined` };
  }
  const check = checkRedemption(
    {
      specBytes: request.specBytes,
      gpus: request.gpus,
      seconds: request.seconds,
      priority: request.priority,
      reservedUnits: request.reserved,
      classMaxGpus: request.hardwareClass.maxGpusPerJob,
      multiplierBps: request.multiplierBps,
    },
    config.policy,
  );
  if (!check.ok) {
    return { ok: false, reason: check.reason, code: check.code, detail: check.detail, ...(check.field !== undefined && { field: check.field }) };
  }
  return {
    ok: true,
    spec: check.spec,
    launch: {
      redemptionId: request.id,
      className: request.hardwareClass.name,
      productLabel: request.hardwareClass.productLabel,
      gpus: request.gpus,
      seconds: request.seconds,
      priority: PRIORITIES[request.priority]!,
      spec: check.spec,
    },
  };
}

function withStatus(r: RedemptionRecord, status: RedemptionStatusName, at: number): RedemptionRecord {
  if (RANK[status] <= RANK[r.chain]) return r;
  const times = { ...r.times };
  if (status === "Running") times.running ??= at;
  if (isTerminal(status)) times.done ??= at;
  // A new status resets the retry state of the step before it.
  return { ...r, chain: status, times, txAttempts: 0, retryAt: undefined, lastError: undefined };
}

/** Computes the verdict once it is needed: a request that is still waiting to be launched. */
function withVerdict(r: RedemptionRecord, config: MachineConfig): RedemptionRecord {
  if (r.verdict || !r.request || RANK[r.chain] > RANK.Requested) return r;
  return { ...r, verdict: verdictFor(r.request, config) };
}

export function reduce(record: RedemptionRecord | undefined, event: MachineEvent, config: MachineConfig): RedemptionRecord {
  const id = event.type === "requested" ? event.request.id : event.type === "jobObserved" ? event.state.redemptionId : event.id;
  let r = record ?? emptyRecord(id);
  switch (event.type) {
    case "requested": {
      r = { ...r, request: r.request ?? event.request, times: { ...r.times, seen: r.times.seen ?? event.at } };
      r = withStatus(r, "Requested", event.at);
      return withVerdict(r, config);
    }
    case "chainStatus": {
      if (event.status === "None") {
        // Only a read can say "no such redemption"; it wins over an unconfirmed belief of Requested.
        return RANK[r.chain] <= RANK.Requested
          ? { ...r, chain: "None", gone: true, lookedUp: true, inflight: clearIf(r, "lookup") }
          : { ...r, lookedUp: true, inflight: clearIf(r, "lookup") };
      }
      r = withStatus(r, event.status, event.at);
      r = { ...r, lookedUp: r.lookedUp || event.source === "read", gone: false };
      if (event.source === "log" && RANK[event.status] > RANK[r.logged ?? "None"]) r.logged = event.status;
      const txs = { ...r.txs };
      if (event.txHash) {
        if (event.status === "Running") txs.running ??= event.txHash;
        if (event.status === "Settled") txs.settled ??= event.txHash;
        if (event.status === "Rejected") txs.rejected ??= event.txHash;
        if (event.status === "Reclaimed") txs.reclaimed ??= event.txHash;
      }
      r = { ...r, txs };
      if (event.jobRef) r = { ...r, jobRef: r.jobRef ?? event.jobRef };
      if (event.status === "Settled" && event.used !== undefined) {
        r = { ...r, settlement: { used: event.used, refunded: event.refunded, receiptHash: event.receiptHash ?? r.settlement?.receiptHash } };
      }
      if (event.status === "Rejected" && event.reasonCode !== undefined && !r.rejection) {
        const name = reasonName(event.reasonCode);
        r = { ...r, rejection: { code: event.reasonCode, ...(name && { reason: name }), detail: name ? REJECT_REASON_TEXT[name] : `reason code ${event.reasonCode}` } };
      }
      // A result of our own call ends the action that made it.
      if (event.source !== "log") r = { ...r, inflight: undefined };
      return withVerdict(r, config);
    }
    case "jobObserved": {
      const prev = r.job;
      // Keep the most advanced view: a late "pending" must not hide a finished job.
      if (prev && isFinishedPhase(prev.phase) && !isFinishedPhase(event.state.phase)) return r;
      const times = { ...r.times };
      if (isFinishedPhase(event.state.phase)) times.finished ??= event.at;
      times.launched ??= event.at;
      return { ...r, job: event.state, times, inflight: clearIf(r, "probe") };
    }
    case "jobMissing":
      return { ...r, job: undefined, probed: true, inflight: clearIf(r, "probe") };
    case "actionStarted":
      return { ...r, inflight: event.action };
    case "launched": {
      const job = r.job ?? { redemptionId: r.id, name: event.result.name, phase: "pending" as const, segments: [], gpuSeconds: 0 };
      return {
        ...r,
        job,
        launchAttempts: r.launchAttempts + 1,
        inflight: undefined,
        retryAt: undefined,
        lastError: undefined,
        times: { ...r.times, launched: r.times.launched ?? event.at },
      };
    }
    case "launchFailed": {
      const attempts = r.launchAttempts + 1;
      if (event.permanent) return { ...r, launchAttempts: attempts, launchRefused: event.permanent, inflight: undefined, lastError: event.error };
      const exhausted = attempts >= config.maxLaunchAttempts;
      return {
        ...r,
        launchAttempts: attempts,
        launchExhausted: exhausted,
        // A launch that failed may have created the job all the same: ask before rejecting.
        probed: exhausted ? false : r.probed,
        inflight: undefined,
        lastError: event.error,
        retryAt: exhausted ? undefined : event.at + backoffMs(attempts, config.backoff),
      };
    }
    case "actionFailed": {
      const attempts = r.txAttempts + 1;
      return { ...r, txAttempts: attempts, inflight: undefined, lastError: event.error, retryAt: event.at + backoffMs(attempts, config.backoff) };
    }
    case "removed":
      return { ...r, removed: true, inflight: undefined };
  }
}

function clearIf(r: RedemptionRecord, action: RedemptionRecord["inflight"]): RedemptionRecord["inflight"] {
  return r.inflight === action ? undefined : r.inflight;
}

export const isFinishedPhase = (phase: string): boolean => phase === "succeeded" || phase === "failed";
