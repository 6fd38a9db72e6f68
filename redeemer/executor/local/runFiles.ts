/**
 * The files through which the local executor and a job's supervisor (supervisor.ts) talk, in
 * <dataDir>/run/, one set per start attempt of a job (`<job>.<attempt>.*`):
 *
 *   order.json   what to run (command, args, env, cwd, log, deadline): the executor writes it
 *                before it records the intent to start
 *   claim.json   created exclusively, once: by the supervisor just before it starts the job, or
 *                by a restarted executor that finds an intent without a claim (the start is then
 *                abandoned: a supervisor arriving late finds the claim taken and runs nothing).
 *                Whoever creates it decides whether the attempt ran. The supervisor touches its
 *                mtime as a heartbeat.
 *   status.json  written by the supervisor, atomically: "running" (the job's pid, kernel start
 *                time and start) once spawned, then "exited" (end, exit code or signal)
 *
 * Every write is atomic (sdk/atomicFile.ts: temporary file, fsync, rename or link), so a reader sees
 * the previous or the next version, never half of one. Used by the supervisor, which Node runs with
 * its types stripped: this module imports nothing but Node's own and that file (by its .ts name).
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createFileExclusiveSync, writeFileAtomicSync } from "../../../sdk/atomicFile.ts";

/** What the supervisor runs. */
export interface RunOrder {
  name: string;
  attempt: number;
  /** Absolute path of the executable. */
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  /** Real milliseconds from the start to SIGTERM. */
  deadlineMs: number;
  /** Real milliseconds from SIGTERM to SIGKILL. */
  graceMs: number;
  /** Real milliseconds between heartbeats (the claim's mtime). */
  heartbeatMs: number;
  /** Shown in the log's "starting" line. */
  describe: string;
}

export type Claim = { by: "supervisor"; pid: number; pidStartTime?: string; at: number } | { by: "executor"; pid: number; at: number };

export type RunStatus =
  | { stage: "running"; supervisorPid: number; jobPid: number; jobPidStartTime?: string; start: number }
  | {
      stage: "exited";
      supervisorPid: number;
      jobPid?: number;
      /** Unix seconds, taken just before the spawn: never after the job began. */
      start?: number;
      /** Unix seconds, taken after the exit was seen: never before the job ended. */
      end: number;
      exitCode?: number;
      signal?: string;
      deadlineHit: boolean;
      /** The supervisor was asked to stop the job (SIGTERM). */
      stopRequested: boolean;
      /** The job could not be spawned at all. */
      startError?: string;
    };

/** The environment variable every job carries, naming its attempt: how its processes are found when nothing else knows them. */
export const RUN_TOKEN_ENV = "CTK_JOB_RUN";

export const runDirOf = (dataDir: string): string => join(dataDir, "run");

export function runFilesOf(runDir: string, name: string, attempt: number): { order: string; claim: string; status: string } {
  const base = join(runDir, `${name}.${attempt}`);
  return { order: `${base}.order.json`, claim: `${base}.claim.json`, status: `${base}.status.json` };
}

const jsonText = (value: unknown): string => `${JSON.stringify(value)}\n`;

/** Replaces `file` atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomicSync(file, jsonText(value));
}

/** Creates `file` with its whole content at once, only if it does not exist: false when it does. */
export function createJsonExclusive(file: string, value: unknown): boolean {
  return createFileExclusiveSync(file, jsonText(value));
}

/** The file's JSON, or undefined when it does not exist. */
export function readJsonIfExists<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** Unix seconds of the file's last modification, or undefined when it does not exist. */
export function mtimeOf(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs / 1000;
  } catch {
    return undefined;
  }
}
