/**
 * Process supervision for the local executor: spawning a job's supervisor (supervisor.ts) detached
 * from the redeemer, signalling it, killing what is left of an attempt whose supervisor is gone,
 * and reading how an attempt ended from what its supervisor wrote.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import type { JobRecord } from "./jobRecord.js";
import { type JobOutcome, LOCAL_FAILURE_REASONS, type LiveJob, nowSeconds } from "./liveJob.js";
import { findProcessesWithEnv, isSameProcess, signalGroup } from "./processControl.js";
import { type Claim, RUN_TOKEN_ENV, type RunOrder, type RunStatus, createJsonExclusive, readJsonIfExists, type runFilesOf } from "./runFiles.js";

/** The supervisor's source: Node runs it with its types stripped (no loader, a fast start). */
export const SUPERVISOR_SCRIPT = fileURLToPath(new URL("./supervisor.ts", import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What the supervisor of one attempt is told to run: spec.command + spec.args (no shell) with
 * spec.env and the spec's secrets, plus PATH, HOME, then CUDA_VISIBLE_DEVICES, CTK_REDEMPTION_ID
 * and the run token, which the spec cannot override.
 */
export function runOrderFor(
  r: JobRecord,
  o: {
    attempt: number;
    /** spec.command[0], resolved on `path`. */
    command: string;
    workDir: string;
    devices: string;
    runToken: string;
    path: string;
    secrets: Record<string, string>;
    logFile: string;
    graceSeconds: number;
    heartbeatSeconds: number;
  },
): RunOrder {
  const { spec } = r;
  return {
    name: r.name,
    attempt: o.attempt,
    command: o.command,
    args: [...spec.command.slice(1), ...spec.args],
    env: {
      PATH: o.path,
      HOME: o.workDir,
      ...spec.env,
      ...o.secrets,
      CUDA_VISIBLE_DEVICES: o.devices,
      CTK_REDEMPTION_ID: r.redemptionId,
      [RUN_TOKEN_ENV]: o.runToken,
    },
    cwd: o.workDir,
    logFile: o.logFile,
    deadlineMs: r.seconds * 1000 * r.timeScale,
    graceMs: o.graceSeconds * 1000,
    heartbeatMs: o.heartbeatSeconds * 1000,
    describe: `${[...spec.command, ...spec.args].join(" ")} (CUDA_VISIBLE_DEVICES=${o.devices})`,
  };
}

/** Spawns the supervisor of one attempt, detached and unreferenced: it outlives the redeemer. */
export function spawnSupervisor(opts: { runDir: string; orderFile: string; logFile: string; runToken: string }): ChildProcess {
  // The supervisor's own errors, if any, go to the job's log.
  const log = openSync(opts.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", SUPERVISOR_SCRIPT, opts.orderFile], {
      cwd: opts.runDir,
      // Only the run token: a job process the supervisor has forked but not yet exec'd carries the
      // supervisor's environment, and a supervisor killed right then must not leave it unfindable.
      env: { [RUN_TOKEN_ENV]: opts.runToken },
      stdio: ["ignore", "ignore", log],
      detached: true,
    });
  } finally {
    closeSync(log);
  }
  child.unref();
  return child;
}

/** The live supervisor's pid, if there is one we know of. */
function supervisorPidOf(job: LiveJob): number | undefined {
  const child = job.supervisor;
  if (child?.pid !== undefined) return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  const r = job.record;
  if (r.supervisorPid !== undefined && isSameProcess(r.supervisorPid, r.supervisorStartTime) !== false) return r.supervisorPid;
  return undefined;
}

/** Asks the job's supervisor to stop it (SIGTERM, then SIGKILL after the grace): it records the end. */
export function signalSupervisor(job: LiveJob): void {
  const pid = supervisorPidOf(job);
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // gone: the next look at its files tells the end
    }
  }
}

/** Kills the job's process group at once (when it is still the process we started). */
export function killJobGroup(r: JobRecord): void {
  if (r.pid !== undefined && isSameProcess(r.pid, r.pidStartTime) !== false) signalGroup(r.pid, "SIGKILL");
}

/** Kills every live process of the attempt (its group, and whatever carries its run token); true when any was alive. */
export async function killRun(r: JobRecord, running: Extract<RunStatus, { stage: "running" }> | undefined, warn: (message: string) => void): Promise<boolean> {
  let found = false;
  for (let round = 0; round < 100; round++) {
    const pids = new Set(r.runToken !== undefined ? findProcessesWithEnv(RUN_TOKEN_ENV, r.runToken) : []);
    if (running && isSameProcess(running.jobPid, running.jobPidStartTime) === true) {
      pids.add(running.jobPid);
      signalGroup(running.jobPid, "SIGKILL");
    }
    if (pids.size === 0) return found;
    found = true;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await sleep(20);
  }
  warn(`${r.name}: some of its processes survive SIGKILL`);
  return found;
}

/** How an attempt that started ended, from its supervisor's last status (`stopReason`: we stopped it ourselves). */
export function outcomeOfExit(status: Extract<RunStatus, { stage: "exited" }>, stopReason: string | undefined): JobOutcome {
  const { exitCode: code, signal } = status;
  const exitCode = code ?? (signal ? 128 + (osConstants.signals[signal as NodeJS.Signals] ?? 0) : undefined);
  const failure =
    stopReason ??
    (status.stopRequested
      ? LOCAL_FAILURE_REASONS.shutdown
      : status.deadlineHit
        ? LOCAL_FAILURE_REASONS.deadline
        : code === 0
          ? undefined
          : code !== undefined
            ? LOCAL_FAILURE_REASONS.error
            : LOCAL_FAILURE_REASONS.signaled);
  return {
    phase: failure === undefined ? "succeeded" : "failed",
    ...(failure !== undefined && { reason: failure }),
    ...(exitCode !== undefined && { exitCode }),
    ...(signal !== undefined && { signal }),
  };
}

/** How our own supervisor process ended, for the message of a job it never started. */
export function supervisorEndOf(ours: ChildProcess | undefined): string {
  return ours?.exitCode != null ? `code ${ours.exitCode}` : ours?.signalCode ? `signal ${ours.signalCode}` : "an error";
}

/** What the files of one attempt say about its supervisor. */
export type AttemptLook =
  /** The supervisor recorded the end. */
  | { kind: "exited"; status: Extract<RunStatus, { stage: "exited" }> }
  /** Our supervisor is still on its way to the claim. */
  | { kind: "claiming" }
  /** The claim is the executor's: no supervisor starts this attempt, now or later. */
  | { kind: "notStarted" }
  /** A supervisor claimed the attempt; `status` is what it last wrote, if anything. */
  | { kind: "claimed"; claim: Extract<Claim, { by: "supervisor" }>; status: RunStatus | undefined };

/**
 * Reads an attempt's claim and status. An unclaimed attempt whose supervisor cannot claim it any
 * more (ours exited, or it was never ours) is claimed here, for the executor, so that no late
 * supervisor starts it. `supervisorExited`: our own supervisor process is known to have exited.
 */
export function lookAtAttempt(files: ReturnType<typeof runFilesOf>, ours: ChildProcess | undefined, supervisorExited: boolean): AttemptLook {
  let claim = readJsonIfExists<Claim>(files.claim);
  const status = readJsonIfExists<RunStatus>(files.status);
  if (status?.stage === "exited") return { kind: "exited", status };
  if (claim === undefined) {
    if (ours !== undefined && !supervisorExited && ours.exitCode === null && ours.signalCode === null) return { kind: "claiming" };
    if (createJsonExclusive(files.claim, { by: "executor", pid: process.pid, at: nowSeconds() } satisfies Claim)) return { kind: "notStarted" };
    claim = readJsonIfExists<Claim>(files.claim)!;
  }
  if (claim.by === "executor") return { kind: "notStarted" };
  return { kind: "claimed", claim, status };
}

/** Whether the supervisor that claimed an attempt is gone (`supervisorExited`: ours is known to have exited). */
export function supervisorGone(claim: Extract<Claim, { by: "supervisor" }>, supervisorExited: boolean): boolean {
  return supervisorExited || isSameProcess(claim.pid, claim.pidStartTime) === false;
}
