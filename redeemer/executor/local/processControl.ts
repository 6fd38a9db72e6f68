/**
 * Process handling for local jobs. Each job runs as the leader of its own process group, so a
 * signal reaches everything it started (a shell and its children alike).
 */
import { readdirSync, readFileSync } from "node:fs";

/** Sends a signal to the whole process group; false when that failed (typically: no such group any more). */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Linux: the process's state letter and kernel start time (clock ticks since boot), from /proc. */
export function readProcStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields resume after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = fields[0];
    const startTime = fields[19]; // field 22 of the whole line
    return state !== undefined && startTime !== undefined ? { state, startTime } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is still the process we started: alive, not a zombie, and (where /proc tells)
 * started at the recorded time. "unknown" where that cannot be told (no /proc).
 */
export function isSameProcess(pid: number, startTime: string | undefined): boolean | "unknown" {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const stat = readProcStat(pid);
  if (stat === undefined) return startTime === undefined ? "unknown" : false;
  if (stat.state === "Z" || stat.state === "X") return false;
  return startTime === undefined ? "unknown" : stat.startTime === startTime;
}

/**
 * Linux: the pids of live processes (this user's: others' environments cannot be read) whose
 * environment holds `name=value`. How a job's processes are found when nothing else knows them.
 */
export function findProcessesWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`);
      if (env.indexOf(needle) === 0 || env.indexOf(Buffer.concat([Buffer.from([0]), needle])) >= 0) {
        const stat = readProcStat(pid);
        if (stat && stat.state !== "Z" && stat.state !== "X") found.push(pid);
      }
    } catch {
      // gone, or not ours
    }
  }
  return found;
}
