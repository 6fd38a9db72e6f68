/**
 * The redemption state machine's vocabulary: what the redeemer knows about one redemption
 * (a record), what it can learn (events) and what it can do (actions). Pure data, no I/O.
 */
import type { Address, Hash, Hex } from "viem";
import type { ClassInfo } from "../../sdk/classes.js";
import type { JobSpec } from "../../sdk/jobSpec.js";
import type { RedemptionStatusName } from "../../sdk/redemptions.js";
import type { RejectReason } from "../../sdk/reasons.js";
import type { JobState, LaunchRequest, LaunchResult } from "../executor/types.js";

/** A RedemptionRequested event at a confirmed depth, with the context of its block. */
export interface RedemptionRequest {
  id: bigint;
  holder: Address;
  classId: number;
  /** On-chain priority enum index (0 low … 3 urgent). */
  priority: number;
  gpus: number;
  seconds: number;
  reserved: bigint;
  specHash: Hex;
  /** The spec bytes exactly as the event carried them. */
  specBytes: Uint8Array;
  blockNumber: bigint;
  transactionHash: Hash;
  /** The class as defined when the redemption was made; undefined if the class is unknown. */
  hardwareClass?: Pick<ClassInfo, "name" | "productLabel" | "maxGpusPerJob">;
  /** The priority's multiplier (basis points) when the redemption was made. */
  multiplierBps: number;
}

/** Outcome of the policy check. */
export type Verdict = { ok: true; spec: JobSpec; launch: LaunchRequest } | { ok: false; reason: RejectReason; code: number; detail: string; field?: string };

/** Why the redeemer rejected (or the chain says it was rejected). */
export interface Rejection {
  code: number;
  reason?: RejectReason;
  detail: string;
}

export type ActionType = "launch" | "probe" | "markRunning" | "settle" | "reject" | "remove" | "lookup";

export interface RedemptionRecord {
  id: bigint;
  /** Set once the request event has been read. */
  request?: RedemptionRequest;
  /** Best knowledge of the on-chain status; only moves forward ("None": no such redemption). */
  chain: RedemptionStatusName;
  /**
   * The furthest status seen in a confirmed log (not in a receipt of our own transaction, which
   * can still be reorganised away). A redemption leaves memory only once this is terminal, and a
   * checkpoint records only this.
   */
  logged?: RedemptionStatusName;
  /** True once the chain was asked about this id and answered "None". */
  gone: boolean;
  verdict?: Verdict;
  /** Latest executor observation; undefined: no job known. */
  job?: JobState;
  /** The executor was asked directly (probe) and its answer is in `job`. */
  probed: boolean;
  /** Chain status was read for a job whose redemption was not otherwise known. */
  lookedUp: boolean;
  launchAttempts: number;
  /** The executor refused the launch for good (or retries ran out and no job exists). */
  launchRefused?: Rejection;
  launchExhausted: boolean;
  txAttempts: number;
  /** No action before this time (ms); set by back-off after a failure. */
  retryAt?: number;
  lastError?: string;
  /** The action being carried out; no other starts until it reports back. */
  inflight?: ActionType;
  rejection?: Rejection;
  settlement?: { used: bigint; refunded?: bigint; receiptHash?: Hex };
  jobRef?: Hex;
  removed: boolean;
  txs: { running?: Hash; settled?: Hash; rejected?: Hash; reclaimed?: Hash };
  /** Milliseconds: when each step was first seen by this process. */
  times: { seen?: number; launched?: number; running?: number; finished?: number; done?: number };
}

/** Something the redeemer learned. `at` is the time (ms) it learned it. */
export type MachineEvent =
  | { type: "requested"; request: RedemptionRequest; at: number }
  | {
      type: "chainStatus";
      id: bigint;
      status: RedemptionStatusName;
      at: number;
      /** Where the status was learned: a confirmed log, a receipt of our own transaction, a read. */
      source: "log" | "tx" | "read";
      txHash?: Hash;
      used?: bigint;
      refunded?: bigint;
      receiptHash?: Hex;
      reasonCode?: number;
      jobRef?: Hex;
    }
  | { type: "jobObserved"; state: JobState; at: number }
  | { type: "jobMissing"; id: bigint; at: number }
  | { type: "actionStarted"; id: bigint; action: ActionType; at: number }
  | { type: "launched"; id: bigint; result: LaunchResult; at: number }
  | { type: "launchFailed"; id: bigint; error: string; at: number; permanent?: Rejection }
  | { type: "actionFailed"; id: bigint; action: ActionType; error: string; at: number }
  | { type: "removed"; id: bigint; at: number };

export type Action =
  | { type: "launch"; id: bigint; request: LaunchRequest }
  /** Ask the executor directly whether the job exists. */
  | { type: "probe"; id: bigint }
  | { type: "markRunning"; id: bigint; jobName: string }
  | { type: "settle"; id: bigint; used: bigint; reserved: bigint; job: JobState; request: RedemptionRequest }
  | { type: "reject"; id: bigint; rejection: Rejection }
  /** Stop and delete a job whose redemption is over (reclaimed, rejected, or gone). */
  | { type: "remove"; id: bigint }
  /** Read the on-chain status of a redemption known only from the executor. */
  | { type: "lookup"; id: bigint };

export interface MachineConfig {
  /** Policy the specs are checked against (see redeemer/policy). */
  policy: import("../policy/policyConfig.js").PolicyConfig;
  executorKind: "local" | "kubernetes";
  /** Launch attempts that fail for a passing reason before the redemption is rejected. */
  maxLaunchAttempts: number;
  backoff: { baseMs: number; maxMs: number };
}
