/**
 * The `local` executor: the embedded default for one machine. Each job is a child process
 * (spec.command + spec.args, no shell) pinned to GPUs with CUDA_VISIBLE_DEVICES, in its own
 * working directory, with stdout and stderr in one log file:
 *
 *   <dataDir>/jobs/<job>.json   state, written atomically (survives a restart of the redeemer)
 *   <dataDir>/logs/<job>.log    the job's output, plus "[ctk]" lines from the executor
 *   <dataDir>/work/<job>/       the job's working directory and HOME
 *
 * It cannot pull or run images: the image is recorded, `spec.command[0]` runs from the local
 * PATH, and only if it is on `allowedCommands`. Jobs queue per hardware class by priority, then
 * arrival. At the deadline the job's process group gets SIGTERM, then SIGKILL after the grace.
 *
 * A job's environment is spec.env plus PATH and HOME, then CUDA_VISIBLE_DEVICES and
 * CTK_REDEMPTION_ID (which spec.env cannot override) — never the redeemer's own environment,
 * which may hold its signing key.
 *
 * After a restart, a job that was running is finished as failed "Interrupted": if its process
 * is gone, with usage up to the last persisted heartbeat; if it is somehow still running it is
 * killed (it can no longer be supervised) and usage runs to that moment. Queued jobs stay queued.
 */
import { readJobSecrets } from "../jobSecrets.js";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, appendFile, mkdir, open, rm } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import type { Executor, JobState, LaunchRequest, LaunchResult } from "../types.js";
import { jobNameFor } from "../types.js";
import { type DataDirLock, lockDataDir } from "./dataDirLock.js";
import { LocalLaunchError } from "./errors.js";
import { findExecutable } from "./findExecutable.js";
import { type GpuSlot, resolveGpuInventory } from "./gpuInventory.js";
import { GpuPool } from "./gpuPool.js";
import { JOB_RECORD_VERSION, type JobRecord, toJobState } from "./jobRecord.js";
import { JobStore } from "./jobStore.js";
import { type LocalExecutorConfig, type LocalExecutorConfigInput, parseLocalExecutorConfig } from "./localExecutorConfig.js";
import { measureGpuSeconds } from "./measureGpuSeconds.js";
import { pickNextJobs } from "./pickNextJobs.js";
import { isSameProcess, readProcStat, signalGroup } from "./processControl.js";

export interface LocalExecutorDeps {
  /** Where warnings go (detection failures, unreadable state files, listener errors). */
  onWarning?: (message: string) => void;
}

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

interface LiveJob {
  record: JobRecord;
  /** Created by another process on the same data dir: known here, never started here. */
  foreign: boolean;
  child?: ChildProcess;
  /** Between allocation and spawn. */
  starting: boolean;
  /** Launched, but its state file is not created yet: not to be started. */
  unsaved: boolean;
  deadlineHit: boolean;
  /** Set when we stop it ourselves (close, remove): the reason to report. */
  stopReason?: string;
  deadlineTimer?: NodeJS.Timeout | undefined;
  killTimer?: NodeJS.Timeout | undefined;
  /** Serialised writes of this job's record. */
  writing: Promise<void>;
  /** Settles when the job has ended and its final state is written. */
  ended: Promise<void>;
  markEnded: () => void;
}

/** setTimeout's longest delay; longer deadlines are re-armed in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const nowSeconds = (): number => Date.now() / 1000;

export class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  readonly config: LocalExecutorConfig;
  readonly inventory: readonly GpuSlot[];

  private readonly store: JobStore;
  private readonly pool: GpuPool;
  private readonly jobs = new Map<string, LiveJob>();
  /** State files that could not be read: they still block a relaunch. */
  private readonly unreadable = new Map<string, JobState>();
  private readonly listeners = new Set<(state: JobState) => void>();
  private readonly warn: (message: string) => void;
  private heartbeat: NodeJS.Timeout | undefined;
  private nextSeq = 0;
  private closing: Promise<void> | undefined;
  private lock: DataDirLock | undefined;
  /** While the jobs directory is read back at start-up: nothing is scheduled yet. */
  private recovering = false;
  /** Starts in flight, which shutdown waits for. */
  private readonly starts = new Set<Promise<void>>();

  /** Parses the configuration, finds the GPUs, recovers jobs from dataDir. @throws ConfigError, DataDirInUse */
  static async create(config: LocalExecutorConfigInput, deps: LocalExecutorDeps = {}): Promise<LocalExecutor> {
    const parsed = parseLocalExecutorConfig(config);
    const warn = deps.onWarning ?? ((m: string) => console.warn(`local executor: ${m}`));
    const inventory = await resolveGpuInventory(parsed, warn);
    const executor = new LocalExecutor(parsed, inventory, warn);
    try {
      await executor.recover();
    } catch (err) {
      await executor.lock?.release();
      throw err;
    }
    return executor;
  }

  private constructor(config: LocalExecutorConfig, inventory: GpuSlot[], warn: (message: string) => void) {
    this.config = config;
    this.inventory = inventory;
    this.pool = new GpuPool(inventory);
    this.store = new JobStore(join(config.dataDir, "jobs"));
    this.warn = warn;
  }

  logFileFor(name: string): string {
    return join(this.config.dataDir, "logs", `${name}.log`);
  }

  workDirFor(name: string): string {
    return join(this.config.dataDir, "work", name);
  }

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    if (this.closing) throw new Error("the local executor is closed");
    const key = req.redemptionId.toString();
    const name = jobNameFor(req.redemptionId);
    if (this.jobs.has(key) || this.unreadable.has(key)) return { name, alreadyExisted: true };

    await this.validate(req);
    if (this.jobs.has(key) || this.unreadable.has(key)) return { name, alreadyExisted: true };

    const record: JobRecord = {
      version: JOB_RECORD_VERSION,
      redemptionId: key,
      name,
      className: req.className,
      productLabel: req.productLabel,
      gpus: req.gpus,
      seconds: req.seconds,
      priority: req.priority,
      spec: req.spec,
      seq: this.nextSeq++,
      timeScale: this.config.timeScale,
      createdAt: nowSeconds(),
      phase: "pending",
      segments: [],
      gpuSeconds: 0,
      gpuIndexes: [],
    };
    const job = this.track(record);
    job.unsaved = true;
    try {
      if (!(await this.store.create(record))) {
        // Another process on the same data dir launched it first.
        this.jobs.delete(key);
        await this.adoptForeign(name);
        return { name, alreadyExisted: true };
      }
    } catch (err) {
      this.jobs.delete(key);
      throw err;
    }
    job.unsaved = false;
    this.emit(job);
    this.schedule();
    return { name, alreadyExisted: false };
  }

  async get(redemptionId: bigint): Promise<JobState | undefined> {
    const key = redemptionId.toString();
    const job = this.jobs.get(key);
    return job ? this.stateOf(job) : this.unreadable.get(key);
  }

  async list(): Promise<JobState[]> {
    const states = [...[...this.jobs.values()].map((j) => this.stateOf(j)), ...this.unreadable.values()];
    return states.sort((a, b) => (a.redemptionId < b.redemptionId ? -1 : a.redemptionId > b.redemptionId ? 1 : 0));
  }

  /** Deletes the job's state file and working directory (the log stays). A job still queued is dropped; one still running is killed first. */
  async remove(redemptionId: bigint): Promise<void> {
    const key = redemptionId.toString();
    const name = jobNameFor(redemptionId);
    const job = this.jobs.get(key);
    if (job !== undefined && !job.foreign && (job.record.phase === "running" || job.starting)) {
      job.stopReason = LOCAL_FAILURE_REASONS.removed;
      if (job.child?.pid !== undefined) signalGroup(job.child.pid, "SIGKILL");
      await job.ended;
    }
    this.jobs.delete(key);
    this.unreadable.delete(key);
    await job?.writing;
    await this.store.remove(name);
    await rm(this.workDirFor(name), { recursive: true, force: true });
  }

  watch(onChange: (state: JobState) => void): () => void {
    this.listeners.add(onChange);
    return () => {
      this.listeners.delete(onChange);
    };
  }

  async ping(): Promise<boolean> {
    if (this.closing) return false;
    try {
      await access(this.config.dataDir, fsConstants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops timers and watches. Running jobs keep running (a restarted executor finishes them as
   * Interrupted) unless `killRunningOnClose` is set: then they get SIGTERM, SIGKILL after the
   * grace, and end as failed "ExecutorShutdown". Queued jobs stay queued on disk either way.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await Promise.all(this.starts);
    const running = [...this.jobs.values()].filter((j) => !j.foreign && j.record.phase === "running");
    if (this.config.killRunningOnClose) {
      for (const job of running) this.stop(job, LOCAL_FAILURE_REASONS.shutdown);
      await Promise.all(running.map((j) => j.ended));
    } else {
      for (const job of running) {
        this.clearTimers(job);
        job.child?.removeAllListeners("exit");
        job.child?.removeAllListeners("error");
        job.child?.unref();
        this.beat(job);
      }
    }
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.listeners.clear();
    await Promise.all([...this.jobs.values()].map((j) => j.writing));
    await this.lock?.release();
  }

  // --- launching and scheduling

  private async validate(req: LaunchRequest): Promise<void> {
    const fail = (problem: ConstructorParameters<typeof LocalLaunchError>[0], message: string): never => {
      throw new LocalLaunchError(problem, message, req.redemptionId);
    };
    const command = req.spec.command[0];
    if (command === undefined) fail("COMMAND_MISSING", "the local executor needs spec.command: it cannot run an image's entrypoint");
    if (!this.config.allowedCommands.includes(command!)) {
      fail(
        "COMMAND_NOT_ALLOWED",
        `command ${JSON.stringify(command)} is not allowed here (allowed: ${this.config.allowedCommands.join(", ")})`
      );
    }
    if ((await findExecutable(command!, this.jobPath())) === undefined)
      fail("COMMAND_NOT_FOUND", `command ${JSON.stringify(command)} is not installed on this machine`);
    const strings = [...req.spec.command, ...req.spec.args, ...Object.values(req.spec.env)];
    if (strings.some((s) => s.includes("\0"))) fail("INVALID_ARGUMENT", "command, args and env must not contain NUL characters");
    if (!Number.isInteger(req.gpus) || req.gpus < 1) fail("INVALID_ARGUMENT", `gpus must be a positive integer, got ${req.gpus}`);
    if (!Number.isInteger(req.seconds) || req.seconds < 1)
      fail("INVALID_ARGUMENT", `seconds must be a positive integer, got ${req.seconds}`);
    const capacity = this.pool.capacity(req.className);
    if (capacity === 0) fail("CLASS_UNAVAILABLE", `this machine has no ${req.className} GPUs`);
    if (req.gpus > capacity) fail("TOO_MANY_GPUS", `${req.gpus} ${req.className} GPUs asked for; this machine has ${capacity}`);
  }

  private track(record: JobRecord, foreign = false): LiveJob {
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    const job: LiveJob = {
      record,
      foreign,
      starting: false,
      unsaved: false,
      deadlineHit: false,
      writing: Promise.resolve(),
      ended,
      markEnded,
    };
    if (record.phase === "succeeded" || record.phase === "failed") markEnded();
    this.jobs.set(record.redemptionId, job);
    this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
    return job;
  }

  private schedule(): void {
    if (this.closing || this.recovering) return;
    const queued = [...this.jobs.values()].filter((j) => j.record.phase === "pending" && !j.starting && !j.unsaved && !j.foreign);
    if (queued.length === 0) return;
    const classes = new Set(queued.map((j) => j.record.className));
    const free = new Map([...classes].map((c) => [c, this.pool.freeCount(c)] as const));
    const picks = pickNextJobs(
      queued.map((j) => ({
        key: j.record.redemptionId,
        className: j.record.className,
        gpus: j.record.gpus,
        priority: j.record.priority,
        seq: j.record.seq,
        job: j,
      })),
      free
    );
    for (const { job } of picks) {
      const slots = this.pool.allocate(job.record.className, job.record.gpus, job.record.name);
      if (slots === undefined) continue; // cannot happen: picks fit the free counts
      job.starting = true;
      const started = this.start(job, slots).catch((err: unknown) =>
        this.warn(`starting ${job.record.name} failed: ${(err as Error).message}`)
      );
      this.starts.add(started);
      void started.finally(() => this.starts.delete(started));
    }
  }

  private async start(job: LiveJob, slots: GpuSlot[]): Promise<void> {
    const r = job.record;
    const { spec } = r;
    const workDir = this.workDirFor(r.name);
    const logFile = this.logFileFor(r.name);
    const devices = slots.map((s) => s.index).join(",");
    let child: ChildProcess;
    try {
      const command = await findExecutable(spec.command[0] ?? "", this.jobPath());
      if (command === undefined || !this.config.allowedCommands.includes(spec.command[0]!)) {
        throw new Error(`command ${JSON.stringify(spec.command[0])} is not available`);
      }
      await mkdir(workDir, { recursive: true });
      await mkdir(join(this.config.dataDir, "logs"), { recursive: true });
      // Recorded before spawning: if the redeemer dies between spawn and the next write, the
      // restarted executor must not start the job a second time.
      r.startingAt = nowSeconds();
      this.persist(job);
      await job.writing;
      const log = await open(logFile, "a");
      try {
        await log.write(
          `[ctk] ${new Date().toISOString()} starting ${r.name}: ${[...spec.command, ...spec.args].join(
            " "
          )} (CUDA_VISIBLE_DEVICES=${devices})\n`
        );
        child = spawn(command, [...spec.command.slice(1), ...spec.args], {
          cwd: workDir,
          env: { PATH: this.jobPath(), HOME: workDir, ...spec.env, ...readJobSecrets(this.config.secretsFile, spec.secrets), CUDA_VISIBLE_DEVICES: devices, CTK_REDEMPTION_ID: r.redemptionId },
          stdio: ["ignore", log.fd, log.fd],
          detached: true,
          shell: false,
        });
      } finally {
        await log.close();
      }
    } catch (err) {
      this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.startError, message: (err as Error).message });
      return;
    }

    job.child = child;
    child.on("error", (err) => {
      // Spawning failed (there is no process), or signalling it did.
      if (child.pid === undefined) this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.startError, message: err.message });
    });
    child.once("exit", (code, signal) => this.onExit(job, code, signal));
    if (child.pid === undefined) return; // the "error" event follows

    const now = nowSeconds();
    job.starting = false;
    r.phase = "running";
    r.gpuIndexes = slots.map((s) => s.index);
    r.pid = child.pid;
    const stat = readProcStat(child.pid);
    if (stat) r.pidStartTime = stat.startTime;
    r.segments = [{ start: now, node: this.config.nodeName, gpuProduct: slots[0]?.productLabel ?? r.productLabel }];
    r.heartbeatAt = now;
    this.persist(job);
    this.emit(job);
    if (job.stopReason !== undefined) {
      // Removed or shut down while it was being started.
      signalGroup(child.pid, "SIGKILL");
      return;
    }
    this.armDeadline(job, r.seconds * 1000 * r.timeScale);
    this.ensureHeartbeat();
  }

  private armDeadline(job: LiveJob, remainingMs: number): void {
    const step = Math.min(remainingMs, MAX_TIMEOUT_MS);
    job.deadlineTimer = setTimeout(() => {
      if (remainingMs > step) this.armDeadline(job, remainingMs - step);
      else this.onDeadline(job);
    }, step);
  }

  private onDeadline(job: LiveJob): void {
    const pid = job.child?.pid;
    if (pid === undefined || job.record.phase !== "running") return;
    job.deadlineHit = true;
    this.appendLog(job, `deadline of ${job.record.seconds} s reached; SIGTERM, SIGKILL in ${this.config.killGraceSeconds} s`);
    this.terminate(job, pid);
  }

  /** SIGTERM to the process group now, SIGKILL after the grace. */
  private terminate(job: LiveJob, pid: number): void {
    signalGroup(pid, "SIGTERM");
    job.killTimer ??= setTimeout(() => {
      if (job.record.phase === "running") this.appendLog(job, "grace period over; SIGKILL");
      signalGroup(pid, "SIGKILL");
    }, this.config.killGraceSeconds * 1000);
  }

  private stop(job: LiveJob, reason: string): void {
    job.stopReason = reason;
    const pid = job.child?.pid;
    if (pid !== undefined && job.record.phase === "running") this.terminate(job, pid);
  }

  private onExit(job: LiveJob, code: number | null, signal: NodeJS.Signals | null): void {
    const pid = job.child?.pid;
    // Whatever the job left behind in its process group goes with it.
    if (pid !== undefined) signalGroup(pid, "SIGKILL");
    const exitCode = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : undefined);
    const failure =
      job.stopReason ??
      (job.deadlineHit
        ? LOCAL_FAILURE_REASONS.deadline
        : code === 0
        ? undefined
        : code !== null
        ? LOCAL_FAILURE_REASONS.error
        : LOCAL_FAILURE_REASONS.signaled);
    this.appendLog(job, `exited with ${code !== null ? `code ${code}` : `signal ${signal}`}${failure ? ` (${failure})` : ""}`);
    this.finish(job, {
      phase: failure === undefined ? "succeeded" : "failed",
      ...(failure !== undefined && { reason: failure }),
      ...(exitCode !== undefined && { exitCode }),
      ...(signal !== null && { signal }),
    });
  }

  private finish(
    job: LiveJob,
    outcome: Pick<JobRecord, "phase"> & Partial<Pick<JobRecord, "reason" | "exitCode" | "signal" | "message">>
  ): void {
    if (job.record.phase === "succeeded" || job.record.phase === "failed") return;
    this.clearTimers(job);
    const r = job.record;
    const now = nowSeconds();
    const open = r.segments.at(-1);
    if (open && open.end === undefined) open.end = now;
    Object.assign(r, outcome);
    r.gpuSeconds = measureGpuSeconds(r, now);
    job.starting = false;
    this.pool.release(r.name);
    this.persist(job);
    void job.writing.then(job.markEnded);
    this.emit(job);
    this.schedule();
  }

  // --- heartbeats, persistence, events

  private ensureHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      const running = [...this.jobs.values()].filter((j) => j.record.phase === "running");
      if (running.length === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
      for (const job of running) this.beat(job);
    }, this.config.heartbeatSeconds * 1000);
    this.heartbeat.unref();
  }

  private beat(job: LiveJob): void {
    if (job.record.phase !== "running") return;
    const now = nowSeconds();
    job.record.heartbeatAt = now;
    job.record.gpuSeconds = measureGpuSeconds(job.record, now);
    this.persist(job);
  }

  /** Queues a write of the job's record as it is when the write runs (so the last write wins). */
  private persist(job: LiveJob): void {
    job.writing = job.writing
      .then(() => this.store.write(job.record))
      .catch((err: unknown) => this.warn(`cannot persist ${job.record.name}: ${(err as Error).message}`));
  }

  private appendLog(job: LiveJob, line: string): void {
    void appendFile(this.logFileFor(job.record.name), `[ctk] ${new Date().toISOString()} ${line}\n`).catch(() => {});
  }

  private stateOf(job: LiveJob): JobState {
    const r = job.record;
    return toJobState(r, r.phase === "running" ? measureGpuSeconds(r) : r.gpuSeconds);
  }

  private emit(job: LiveJob): void {
    const state = this.stateOf(job);
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch (err) {
        this.warn(`a watch listener threw: ${(err as Error).message}`);
      }
    }
  }

  private clearTimers(job: LiveJob): void {
    clearTimeout(job.deadlineTimer);
    clearTimeout(job.killTimer);
    job.deadlineTimer = undefined;
    job.killTimer = undefined;
  }

  private jobPath(): string {
    return this.config.path ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  }

  // --- restart

  private async recover(): Promise<void> {
    await mkdir(this.config.dataDir, { recursive: true });
    this.lock = await lockDataDir(this.config.dataDir);
    await this.store.init();
    await mkdir(join(this.config.dataDir, "logs"), { recursive: true });
    await mkdir(join(this.config.dataDir, "work"), { recursive: true });
    const { records, unreadable } = await this.store.readAll();
    this.recovering = true;
    for (const u of unreadable) this.markUnreadable(u.name, u.error);
    for (const record of records) {
      const job = this.track(record);
      if (record.phase === "running") this.finishInterrupted(job);
      else if (record.phase === "pending" && record.startingAt !== undefined) this.finishInterrupted(job);
      else if (record.phase === "pending" && this.pool.capacity(record.className) < record.gpus) {
        // The inventory changed while it was queued: it could never start here.
        this.finish(job, {
          phase: "failed",
          reason: LOCAL_FAILURE_REASONS.unschedulable,
          message: `${record.gpus} ${record.className} GPUs asked for; this machine now has ${this.pool.capacity(record.className)}`,
        });
      }
    }
    await Promise.all([...this.jobs.values()].map((j) => j.writing));
    this.recovering = false;
    this.schedule();
  }

  private finishInterrupted(job: LiveJob): void {
    const r = job.record;
    const open = r.segments.at(-1);
    let end = Math.max(open?.start ?? r.createdAt, r.heartbeatAt ?? 0);
    let message =
      r.phase === "pending"
        ? "the redeemer stopped while starting the job; it is not started again"
        : "the redeemer stopped while the job ran; usage counted to its last heartbeat";
    if (r.pid !== undefined && isSameProcess(r.pid, r.pidStartTime) === true) {
      signalGroup(r.pid, "SIGKILL");
      end = nowSeconds();
      message = "the redeemer stopped while the job ran; the job was still running and has been killed";
    }
    if (open && open.end === undefined) open.end = end;
    r.phase = "failed";
    r.reason = LOCAL_FAILURE_REASONS.interrupted;
    r.message = message;
    r.gpuSeconds = measureGpuSeconds(r, end);
    job.markEnded();
    this.persist(job);
  }

  private markUnreadable(name: string, error: string): void {
    const m = /^ctk-redemption-(\d+)$/.exec(name);
    if (!m) return this.warn(`ignoring ${name}.json in the jobs directory: not a job's state file`);
    this.warn(`the state file of ${name} cannot be read (${error}); reporting it as failed with no usage`);
    this.unreadable.set(m[1]!, {
      redemptionId: BigInt(m[1]!),
      name,
      phase: "failed",
      segments: [],
      gpuSeconds: 0,
      reason: LOCAL_FAILURE_REASONS.unreadable,
    });
  }

  /** A record another process created: known from now on, never started here. */
  private async adoptForeign(name: string): Promise<void> {
    const { records, unreadable } = await this.store.readAll();
    const record = records.find((r) => r.name === name);
    if (record) this.track(record, true);
    else if (unreadable.some((u) => u.name === name)) this.markUnreadable(name, "unreadable");
  }
}

/** Same as LocalExecutor.create. */
export const createLocalExecutor = (config: LocalExecutorConfigInput, deps?: LocalExecutorDeps): Promise<LocalExecutor> =>
  LocalExecutor.create(config, deps);
