/**
 * Recovery for the local executor: what a start-up makes of each job found in the data dir
 * (followed through its supervisor's files, interrupted, unschedulable, or queued as it was).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { JobState } from "../types.js";
import { type DataDirLock, lockDataDir } from "./dataDirLock.js";
import type { JobRecord } from "./jobRecord.js";
import type { JobStore } from "./jobStore.js";
import { LOCAL_FAILURE_REASONS, isFinished, nowSeconds } from "./liveJob.js";
import { isSameProcess, signalGroup } from "./processControl.js";

/** Takes the data dir (one executor at a time) and creates its directories. @throws DataDirInUse */
export async function prepareDataDir(dataDir: string, runDir: string, store: JobStore): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  try {
    await store.init();
    await mkdir(join(dataDir, "logs"), { recursive: true });
    await mkdir(join(dataDir, "work"), { recursive: true });
    await mkdir(runDir, { recursive: true });
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}

/**
 * What becomes of a job read back at start-up: `follow` its supervisor (a start under way or
 * running), `interrupted` (started before supervisors existed: it cannot be followed),
 * `unschedulable` (queued, but the inventory no longer has its GPUs), or left as it is.
 */
export function recoveryPlanOf(record: JobRecord, capacity: number): "finished" | "follow" | "interrupted" | "unschedulable" | "queued" {
  if (isFinished(record)) return "finished";
  const underWay = record.phase === "running" || record.startingAt !== undefined;
  if (underWay && record.attempt !== undefined) return "follow";
  if (underWay) return "interrupted";
  if (capacity < record.gpus) return "unschedulable";
  return "queued";
}

/**
 * A job started before supervisors existed (a record without an attempt): its process is killed
 * if it still runs; it is charged up to then, or to its last heartbeat.
 */
export function stopInterrupted(r: JobRecord): { end: number; message: string } {
  const open = r.segments.at(-1);
  let end = Math.max(open?.start ?? r.createdAt, r.heartbeatAt ?? 0);
  let message =
    r.phase === "pending" ? "the redeemer stopped while starting the job; it is not started again" : "the redeemer stopped while the job ran; usage counted to its last heartbeat";
  if (r.pid !== undefined && isSameProcess(r.pid, r.pidStartTime) === true) {
    signalGroup(r.pid, "SIGKILL");
    end = nowSeconds();
    message = "the redeemer stopped while the job ran; the job was still running and has been killed";
  }
  return { end, message };
}

/** The state reported for a job whose state file cannot be read (failed, no usage), by its key; undefined for a file that is no job's. */
export function unreadableJobState(name: string, error: string, warn: (message: string) => void): { key: string; state: JobState } | undefined {
  const m = /^ctk-redemption-(\d+)$/.exec(name);
  if (!m) {
    warn(`ignoring ${name}.json in the jobs directory: not a job's state file`);
    return undefined;
  }
  warn(`the state file of ${name} cannot be read (${error}); reporting it as failed with no usage`);
  return {
    key: m[1]!,
    state: {
      redemptionId: BigInt(m[1]!),
      name,
      phase: "failed",
      segments: [],
      gpuSeconds: 0,
      reason: LOCAL_FAILURE_REASONS.unreadable,
    },
  };
}
