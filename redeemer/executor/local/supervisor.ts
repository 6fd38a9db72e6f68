/**
 * The supervisor of one local job: `node supervisor.ts <order.json>`. The local executor starts
 * it detached (its own session, not waited for), so it outlives the redeemer: a crash, an upgrade
 * or Ctrl-C of the redeemer does not touch the job, and a restarted redeemer re-adopts it.
 *
 * It claims the start attempt (see runFiles.ts), and only then spawns the job as the leader of
 * a process group of its own, with the job's output appended to its log. It records the job's
 * pid, kernel start time and start; enforces the deadline (SIGTERM to the group, SIGKILL after
 * the grace); on SIGTERM stops the job the same way; touches the claim as a heartbeat; and when
 * the job exits records the end, the exit code or signal, then kills whatever the job left
 * behind in its group, and exits.
 *
 * Runs under Node with its types stripped: it imports only Node's modules and these two files.
 */
import { spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, statSync, utimesSync } from "node:fs";
import { dirname } from "node:path";
import { readProcStat } from "./processControl.ts";
import { type RunOrder, type RunStatus, createJsonExclusive, runFilesOf, writeJsonAtomic } from "./runFiles.ts";

const orderFile = process.argv[2];
if (orderFile === undefined) {
  process.stderr.write("usage: supervisor.ts <order.json>\n");
  process.exit(2);
}
const order = JSON.parse(readFileSync(orderFile, "utf8")) as RunOrder;
const runDir = dirname(orderFile);
const files = runFilesOf(runDir, order.name, order.attempt);
// The run directory may be moved aside while the job runs (the devnet does, for a chain it
// deployed afresh, whose redemption ids start again at 1): then nothing more is written there,
// nor into a new directory of the same name.
const runDirIno = statSync(runDir).ino;
const sameRunDir = (): boolean => {
  try {
    return statSync(runDir).ino === runDirIno;
  } catch {
    return false;
  }
};
const now = (): number => Date.now() / 1000;
const logLine = (line: string): void => {
  try {
    appendFileSync(order.logFile, `[ctk] ${new Date().toISOString()} ${line}\n`);
  } catch {
    // the log is best effort
  }
};

let stopRequested = false;
let deadlineHit = false;
let jobPid: number | undefined;
let killTimer: NodeJS.Timeout | undefined;

/** SIGTERM to the job's group now, SIGKILL after the grace. */
const terminate = (): void => {
  if (jobPid === undefined) return;
  const pid = jobPid;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    // gone already
  }
  killTimer ??= setTimeout(() => {
    logLine("grace period over; SIGKILL");
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone already
    }
  }, order.graceMs);
};

// Installed before the claim: from then on a SIGTERM stops the job rather than the supervisor.
process.on("SIGTERM", () => {
  stopRequested = true;
  if (jobPid !== undefined) {
    logLine("asked to stop the job; SIGTERM");
    terminate();
  }
});
process.on("SIGINT", () => {});
process.on("SIGHUP", () => {});

const claimed = createJsonExclusive(files.claim, {
  by: "supervisor",
  pid: process.pid,
  ...(readProcStat(process.pid) && { pidStartTime: readProcStat(process.pid)!.startTime }),
  at: now(),
});
if (!claimed) {
  // The executor abandoned this attempt (it restarted before the claim): run nothing.
  process.exit(0);
}

const exited = (fields: Omit<Extract<RunStatus, { stage: "exited" }>, "stage" | "supervisorPid" | "deadlineHit" | "stopRequested">): never => {
  if (sameRunDir()) writeJsonAtomic(files.status, { stage: "exited", supervisorPid: process.pid, deadlineHit, stopRequested, ...fields } satisfies RunStatus);
  process.exit(0);
};

if (stopRequested) {
  logLine("stopped before the job started");
  exited({ end: now(), startError: "stopped before it started" });
}

let log: number;
try {
  log = openSync(order.logFile, "a");
} catch (err) {
  exited({ end: now(), startError: `cannot open the log: ${(err as Error).message}` });
}
logLine(`starting ${order.name}: ${order.describe}`);
const start = now();
const child = spawn(order.command, order.args, { cwd: order.cwd, env: order.env, stdio: ["ignore", log!, log!], detached: true });
closeSync(log!);
if (child.pid === undefined) {
  child.once("error", (err) => {
    logLine(`could not start: ${err.message}`);
    exited({ end: now(), startError: err.message });
  });
} else {
  jobPid = child.pid;
  const stat = readProcStat(jobPid);
  if (sameRunDir())
    writeJsonAtomic(files.status, {
      stage: "running",
      supervisorPid: process.pid,
      jobPid,
      ...(stat && { jobPidStartTime: stat.startTime }),
      start,
    } satisfies RunStatus);
  if (stopRequested) terminate();

  // setTimeout's longest delay is 2^31 - 1 ms: longer deadlines are re-armed in steps.
  let deadline: NodeJS.Timeout | undefined;
  const armDeadline = (remainingMs: number): void => {
    const step = Math.min(remainingMs, 2 ** 31 - 1);
    deadline = setTimeout(() => {
      if (remainingMs > step) return armDeadline(remainingMs - step);
      deadlineHit = true;
      logLine(`deadline reached; SIGTERM, SIGKILL in ${order.graceMs / 1000} s`);
      terminate();
    }, step);
  };
  armDeadline(order.deadlineMs);
  const heartbeat = setInterval(() => {
    const t = new Date();
    try {
      if (sameRunDir()) utimesSync(files.claim, t, t);
    } catch {
      // best effort
    }
  }, order.heartbeatMs);

  child.once("exit", (code, signal) => {
    const end = now();
    clearTimeout(deadline);
    clearTimeout(killTimer);
    clearInterval(heartbeat);
    // Whatever the job left behind in its group goes with it.
    try {
      process.kill(-jobPid!, "SIGKILL");
    } catch {
      // nothing left
    }
    logLine(`exited with ${code !== null ? `code ${code}` : `signal ${signal}`}`);
    exited({ jobPid: jobPid!, start, end, ...(code !== null && { exitCode: code }), ...(signal !== null && { signal }) });
  });
}
