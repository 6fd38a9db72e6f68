/**
 * A job as the local executor holds it in memory: its durable record plus what only this process
 * knows (its supervisor, whether a start is under way, why we stopped it).
 */
import type { ChildProcess } from "node:child_process";
import type { JobRecord } from "./jobRecord.js";

/** Reasons a local job fails with, besides those the interface names. */
export const LOCAL_FAILURE_REASONS = {
  deadline: "DeadlineExceeded",
  error: "Error",
  signaled: "Signaled",
  startError: "StartError",
  interrupted: "Interrupted",
  shutdown: "ExecutorShutdown",
  removed: "Removed",
  unreadable: "StateUnreadable",
  unschedulable: "Unschedulable",
} as const;

export interface LiveJob {
  record: JobRecord;
  /** Created by another process on the same data dir: known here, never started here. */
  foreign: boolean;
  /** The supervisor, when this executor spawned it (a re-adopted one is followed through its files). */
  supervisor?: ChildProcess;
  /** GPUs allocated and a start under way, until the supervisor reports the job running (or not started). */
  starting: boolean;
  /** Launched, but its state file is not created yet: not to be started. */
  unsaved: boolean;
  /** Set when we stop it ourselves (close, remove): the reason to report. */
  stopReason?: string;
  /** Its supervisor was spawned here, or it was re-adopted: its run files are to be followed. */
  followed: boolean;
  /** A look at its run files is in progress. */
  checking: boolean;
  /** Serialised writes of this job's record. */
  writing: Promise<void>;
  /** Settles when the job has ended and its final state is written. */
  ended: Promise<void>;
  markEnded: () => void;
}

/** How a job ended, as written into its record. */
export type JobOutcome = Pick<JobRecord, "phase"> & Partial<Pick<JobRecord, "reason" | "exitCode" | "signal" | "message">>;

export const nowSeconds = (): number => Date.now() / 1000;
export const isFinished = (r: JobRecord): boolean => r.phase === "succeeded" || r.phase === "failed";
