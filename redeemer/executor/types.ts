/**
 * The interface every executor (local process, Kubernetes Job) implements. The redeemer's
 * settler talks only to this. Job names derive from the redemption id, which is what makes a
 * launch idempotent: launching the same redemption twice finds the first job.
 */
import type { JobSpec, PriorityName } from "../../sdk/jobSpec.js";

export interface LaunchRequest {
  /** Sequential on-chain redemption id. */
  redemptionId: bigint;
  /** Hardware class name, e.g. "H100-80GB". */
  className: string;
  /** GPU Feature Discovery product label for the class, e.g. "NVIDIA-H100-80GB-HBM3". */
  productLabel: string;
  gpus: number;
  /** Allotted wall-clock seconds (the deadline). */
  seconds: number;
  priority: PriorityName;
  spec: JobSpec;
}

export type JobPhase = "pending" | "running" | "succeeded" | "failed";

/** One continuous stretch during which the job held its GPUs (a preempted job has several). */
export interface RunSegment {
  /** Unix seconds. */
  start: number;
  /** Unix seconds; absent while still running. */
  end?: number;
  node?: string;
  gpuProduct?: string;
}

export interface JobState {
  redemptionId: bigint;
  /** Executor-side job name (Kubernetes Job name, local job id). */
  name: string;
  phase: JobPhase;
  segments: RunSegment[];
  /** GPU-seconds used so far: gpus × sum of segment durations, capped at gpus × allotted seconds. */
  gpuSeconds: number;
  exitCode?: number;
  /** Why it failed, where known (e.g. "DeadlineExceeded", "OOMKilled", "Evicted"). */
  reason?: string;
}

export interface LaunchResult {
  name: string;
  /** True when the job already existed (a previous launch of the same redemption). */
  alreadyExisted: boolean;
}

export interface Executor {
  readonly kind: "local" | "kubernetes";
  /** Create the job for a redemption; idempotent by redemption id. */
  launch(req: LaunchRequest): Promise<LaunchResult>;
  /** Current state of a redemption's job, or undefined if no such job exists. */
  get(redemptionId: bigint): Promise<JobState | undefined>;
  /** Every job this executor knows of (used to rebuild the work list on start). */
  list(): Promise<JobState[]>;
  /** Remove a finished job's resources (idempotent: missing is fine). */
  remove(redemptionId: bigint): Promise<void>;
  /** Calls back on every observed job change until the returned function is called. */
  watch(onChange: (state: JobState) => void): () => void;
  /** True when the executor's backend answers. */
  ping(): Promise<boolean>;
  /** Stop timers and watches; await-able shutdown. */
  close(): Promise<void>;
}

/** Job names derive from the redemption id (DNS-1123 label). */
export const jobNameFor = (redemptionId: bigint): string => `ctk-redemption-${redemptionId.toString()}`;
