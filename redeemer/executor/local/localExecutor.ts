/**
 * The `local` executor: the embedded default for one machine. Each job is a process
 * (spec.command + spec.args, no shell) pinned to GPUs with CUDA_VISIBLE_DEVICES, in its own
 * working directory, with stdout and stderr in one log file:
 *
 *   <dataDir>/jobs/<job>.json   state, written atomically (survives a restart of the redeemer)
 *   <dataDir>/logs/<job>.log    the job's output, plus "[ctk]" lines from the executor
 *   <dataDir>/work/<job>/       the job's working directory and HOME
 *   <dataDir>/run/              what each start attempt's supervisor did (runFiles.ts)
 *
 * It cannot pull or run images: the image is recorded, `spec.command[0]` runs from the local
 * PATH, and only if it is on `allowedCommands`. Jobs queue per hardware class by priority, then
 * arrival.
 *
 * A job runs under a small supervisor (supervisor.ts) started detached from the redeemer: the
 * job is not the redeemer's child and does not die with it. The supervisor enforces the deadline
 * (SIGTERM to the job's process group, then SIGKILL after the grace) and writes the job's start,
 * end and exit status to <dataDir>/run/. So a redeemer crash, an upgrade or a Ctrl-C leaves the
 * job running, and the next start knows, for every job, exactly one of:
 *
 *   - running: re-adopted, its GPUs still taken, its end learnt from its supervisor;
 *   - finished (also while the redeemer was down): settled for the time it ran;
 *   - provably never started (the intent was recorded, but no supervisor claimed the attempt,
 *     and now none can): queued again, and started once;
 *   - no longer accounted for (its supervisor is gone without recording the end): any of its
 *     processes still alive is killed first, then it ends as "Interrupted", charged to that
 *     moment (or to the supervisor's last heartbeat when nothing of it was alive).
 *
 * A job's environment is spec.env plus PATH and HOME, then CUDA_VISIBLE_DEVICES,
 * CTK_REDEMPTION_ID and CTK_JOB_RUN (which spec.env cannot override) — never the redeemer's own
 * environment, which may hold its signing key.
 *
 * This file is the scheduler façade (the Executor interface, the queue, following each attempt);
 * supervision.ts spawns and signals supervisors and reads how an attempt ended; recovery.ts says
 * what a start-up makes of each job found on disk.
 */
import { readJobSecrets } from "../jobSecrets.js";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, appendFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Executor, JobState, LaunchRequest, LaunchResult, RunSegment } from "../types.js";
import { jobNameFor } from "../types.js";
import type { DataDirLock } from "./dataDirLock.js";
import { LocalLaunchError } from "./errors.js";
import { findExecutable } from "./findExecutable.js";
import { type GpuSlot, resolveGpuInventory } from "./gpuInventory.js";
import { GpuPool } from "./gpuPool.js";
import { JOB_RECORD_VERSION, type JobRecord, toJobState } from "./jobRecord.js";
import { JobStore } from "./jobStore.js";
import { type JobOutcome, LOCAL_FAILURE_REASONS, type LiveJob, isFinished, nowSeconds } from "./liveJob.js";
import { type LocalExecutorConfig, type LocalExecutorConfigInput, parseLocalExecutorConfig } from "./localExecutorConfig.js";
import { measureGpuSeconds } from "./measureGpuSeconds.js";
import { pickNextJobs } from "./pickNextJobs.js";
import { prepareDataDir, recoveryPlanOf, stopInterrupted, unreadableJobState } from "./recovery.js";
import { type Claim, type RunStatus, createJsonExclusive, mtimeOf, readJsonIfExists, runDirOf, runFilesOf, writeJsonAtomic } from "./runFiles.js";
import { killJobGroup, killRun, lookAtAttempt, outcomeOfExit, runOrderFor, signalSupervisor, spawnSupervisor, supervisorEndOf, supervisorGone } from "./supervision.js";

export interface LocalExecutorDeps {
  /** Where warnings go (detection failures, unreadable state files, listener errors). */
  onWarning?: (message: string) => void;
}

export class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  readonly config: LocalExecutorConfig;
  readonly inventory: readonly GpuSlot[];

  private readonly store: JobStore;
  private readonly pool: GpuPool;
  private readonly runDir: string;
  private readonly jobs = new Map<string, LiveJob>();
  /** State files that could not be read: they still block a relaunch. */
  private readonly unreadable = new Map<string, JobState>();
  private readonly listeners = new Set<(state: JobState) => void>();
  private readonly warn: (message: string) => void;
  /** Follows the supervisors of jobs starting or running. */
  private poller: NodeJS.Timeout | undefined;
  private nextSeq = 0;
  private closing: Promise<void> | undefined;
  /** Shut down: nothing more is written (the next executor owns the data dir). */
  private closed = false;
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
      executor.stopPolling();
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
    this.runDir = runDirOf(config.dataDir);
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

  /** Names of the jobs running or being started (what a shutdown leaves running, unless killRunningOnClose). */
  activeJobs(): string[] {
    return [...this.jobs.values()]
      .filter((j) => !j.foreign && (j.record.phase === "running" || j.starting))
      .map((j) => j.record.name)
      .sort();
  }

  /** Deletes the job's state file, run files and working directory (the log stays). A job still queued is dropped; one still running is killed first. */
  async remove(redemptionId: bigint): Promise<void> {
    const key = redemptionId.toString();
    const name = jobNameFor(redemptionId);
    const job = this.jobs.get(key);
    if (job !== undefined && !job.foreign && (job.record.phase === "running" || job.starting)) {
      job.stopReason = LOCAL_FAILURE_REASONS.removed;
      this.killNow(job);
      await job.ended;
    }
    this.jobs.delete(key);
    this.unreadable.delete(key);
    await job?.writing;
    await this.store.remove(name);
    await rm(this.workDirFor(name), { recursive: true, force: true });
    for (let attempt = 1; attempt <= (job?.record.attempt ?? 0); attempt++) {
      // The claims stay: a supervisor arriving late for an old attempt must still find it taken.
      const files = runFilesOf(this.runDir, name, attempt);
      await rm(files.order, { force: true });
      await rm(files.status, { force: true });
    }
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
   * Stops following jobs. Running jobs keep running under their supervisors (the next executor
   * on this data dir re-adopts them) unless `killRunningOnClose` is set: then their supervisors
   * stop them (SIGTERM, SIGKILL after the grace) and they end as failed "ExecutorShutdown",
   * charged for the time they ran. Queued jobs stay queued on disk either way.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await Promise.all(this.starts);
    const active = [...this.jobs.values()].filter((j) => !j.foreign && (j.record.phase === "running" || j.starting));
    if (this.config.killRunningOnClose) {
      for (const job of active) this.stop(job, LOCAL_FAILURE_REASONS.shutdown);
      await Promise.all(active.map((j) => j.ended));
    } else {
      for (const job of active) {
        job.supervisor?.removeAllListeners("exit");
        job.supervisor?.removeAllListeners("error");
        job.supervisor?.unref();
      }
    }
    this.stopPolling();
    this.listeners.clear();
    await Promise.all([...this.jobs.values()].map((j) => j.writing));
    this.closed = true;
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
      fail("COMMAND_NOT_ALLOWED", `command ${JSON.stringify(command)} is not allowed here (allowed: ${this.config.allowedCommands.join(", ")})`);
    }
    if ((await findExecutable(command!, this.jobPath())) === undefined) fail("COMMAND_NOT_FOUND", `command ${JSON.stringify(command)} is not installed on this machine`);
    const strings = [...req.spec.command, ...req.spec.args, ...Object.values(req.spec.env)];
    if (strings.some((s) => s.includes("\0"))) fail("INVALID_ARGUMENT", "command, args and env must not contain NUL characters");
    if (!Number.isInteger(req.gpus) || req.gpus < 1) fail("INVALID_ARGUMENT", `gpus must be a positive integer, got ${req.gpus}`);
    if (!Number.isInteger(req.seconds) || req.seconds < 1) fail("INVALID_ARGUMENT", `seconds must be a positive integer, got ${req.seconds}`);
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
      followed: false,
      checking: false,
      writing: Promise.resolve(),
      ended,
      markEnded,
    };
    if (isFinished(record)) markEnded();
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
      free,
    );
    for (const { job } of picks) {
      const slots = this.pool.allocate(job.record.className, job.record.gpus, job.record.name);
      if (slots === undefined) continue; // cannot happen: picks fit the free counts
      job.starting = true;
      const started = this.start(job, slots).catch((err: unknown) => this.warn(`starting ${job.record.name} failed: ${(err as Error).message}`));
      this.starts.add(started);
      void started.finally(() => this.starts.delete(started));
    }
  }

  /**
   * Records the intent (attempt, GPUs) durably, then spawns the attempt's supervisor. From the
   * moment the intent is on disk, a restarted executor can tell whether this attempt ran.
   */
  private async start(job: LiveJob, slots: GpuSlot[]): Promise<void> {
    const r = job.record;
    const { spec } = r;
    const workDir = this.workDirFor(r.name);
    const devices = slots.map((s) => s.index).join(",");
    const attempt = (r.attempt ?? 0) + 1;
    const files = runFilesOf(this.runDir, r.name, attempt);
    try {
      const command = await findExecutable(spec.command[0] ?? "", this.jobPath());
      if (command === undefined || !this.config.allowedCommands.includes(spec.command[0]!)) {
        throw new Error(`command ${JSON.stringify(spec.command[0])} is not available`);
      }
      await mkdir(workDir, { recursive: true });
      await mkdir(join(this.config.dataDir, "logs"), { recursive: true });
      await mkdir(this.runDir, { recursive: true });
      const runToken = randomBytes(12).toString("hex");
      const order = runOrderFor(r, {
        attempt,
        command,
        workDir,
        devices,
        runToken,
        path: this.jobPath(),
        secrets: readJobSecrets(this.config.secretsFile, spec.secrets),
        logFile: this.logFileFor(r.name),
        graceSeconds: this.config.killGraceSeconds,
        heartbeatSeconds: this.config.heartbeatSeconds,
      });
      writeJsonAtomic(files.order, order);
      Object.assign(r, { attempt, runToken, startingAt: nowSeconds(), gpuIndexes: slots.map((s) => s.index) });
      delete r.supervisorPid;
      delete r.supervisorStartTime;
      await this.persistNow(job);
    } catch (err) {
      this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.startError, message: (err as Error).message });
      return;
    }
    if (job.stopReason !== undefined) {
      // Removed or shut down before the supervisor was spawned: this attempt never runs.
      createJsonExclusive(files.claim, { by: "executor", pid: process.pid, at: nowSeconds() } satisfies Claim);
      this.finish(job, { phase: "failed", reason: job.stopReason });
      return;
    }
    const child = spawnSupervisor({ runDir: this.runDir, orderFile: files.order, logFile: this.logFileFor(r.name), runToken: r.runToken! });
    job.supervisor = child;
    job.followed = true;
    child.once("error", () => {
      if (child.pid === undefined && r.attempt === attempt) void this.checkRun(job, true);
    });
    child.once("exit", () => {
      if (r.attempt === attempt) void this.checkRun(job, true);
    });
    this.ensurePolling();
  }

  /** Asks the supervisor to stop the job (SIGTERM, then SIGKILL after the grace): it records the end. */
  private stop(job: LiveJob, reason: string): void {
    job.stopReason = reason;
    signalSupervisor(job);
  }

  /** Kills the job's process group at once, and has its supervisor record the end. */
  private killNow(job: LiveJob): void {
    killJobGroup(job.record);
    this.stop(job, job.stopReason ?? LOCAL_FAILURE_REASONS.removed);
  }

  // --- following supervisors

  private pollMs(): number {
    return Math.max(10, Math.min(250, this.config.heartbeatSeconds * 1000));
  }

  private ensurePolling(): void {
    if (this.poller || this.closed) return;
    this.poller = setInterval(() => {
      const active = [...this.jobs.values()].filter((j) => !j.foreign && j.record.attempt !== undefined && (j.record.phase === "running" || j.starting));
      if (active.length === 0 && this.starts.size === 0) return this.stopPolling();
      for (const job of active) void this.checkRun(job);
    }, this.pollMs());
    this.poller.unref();
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  /**
   * Reads what the supervisor of the job's current attempt did, and acts on it: running, ended,
   * never started (the claim is taken here: no supervisor can start the attempt any more), or
   * gone without a word (whatever of the job still runs is killed, then it is charged).
   * `supervisorExited`: our own supervisor process is known to have exited.
   */
  private async checkRun(job: LiveJob, supervisorExited = false): Promise<void> {
    const r = job.record;
    if (this.closed || job.checking || !job.followed || r.attempt === undefined || isFinished(r) || (r.phase === "pending" && !job.starting)) return;
    job.checking = true;
    try {
      const files = runFilesOf(this.runDir, r.name, r.attempt);
      const look = lookAtAttempt(files, job.supervisor, supervisorExited);
      if (look.kind === "exited") return this.finishFromStatus(job, look.status);
      if (look.kind === "claiming") return;
      if (look.kind === "notStarted") return this.notStarted(job, job.supervisor);
      const { claim, status } = look;
      if (r.supervisorPid !== claim.pid) {
        r.supervisorPid = claim.pid;
        if (claim.pidStartTime !== undefined) r.supervisorStartTime = claim.pidStartTime;
        this.persist(job);
      }
      if (status?.stage === "running" && r.phase === "pending") this.markRunning(job, status);
      if (!supervisorGone(claim, supervisorExited)) return;
      // The supervisor is gone: it may have written the end just before exiting.
      const last = readJsonIfExists<RunStatus>(files.status);
      if (last?.stage === "exited") return this.finishFromStatus(job, last);
      await this.finishUnaccounted(job, claim, last, files.claim);
    } catch (err) {
      this.warn(`following ${r.name}: ${(err as Error).message}`);
    } finally {
      job.checking = false;
    }
  }

  private markRunning(job: LiveJob, status: Extract<RunStatus, { stage: "running" }>): void {
    const r = job.record;
    job.starting = false;
    r.phase = "running";
    r.pid = status.jobPid;
    if (status.jobPidStartTime !== undefined) r.pidStartTime = status.jobPidStartTime;
    r.segments = [this.segment(r, status.start)];
    this.persist(job);
    this.emit(job);
    if (job.stopReason === LOCAL_FAILURE_REASONS.removed) this.killNow(job);
  }

  private segment(r: JobRecord, start: number, end?: number): RunSegment {
    const gpuProduct = this.inventory.find((s) => s.index === r.gpuIndexes[0])?.productLabel ?? r.productLabel;
    return { start, ...(end !== undefined && { end }), node: this.config.nodeName, gpuProduct };
  }

  /**
   * The attempt was never started, and now never will be (its claim is the executor's). In
   * this process it is a failure to start (our supervisor exited before claiming); found after a
   * restart it is queued again, to be started once.
   */
  private notStarted(job: LiveJob, ours: ChildProcess | undefined): void {
    const r = job.record;
    if (ours !== undefined || job.stopReason !== undefined) {
      const how = supervisorEndOf(ours);
      this.finish(job, {
        phase: "failed",
        reason: job.stopReason ?? LOCAL_FAILURE_REASONS.startError,
        ...(job.stopReason === undefined && { message: `the job's supervisor ended (${how}) before starting it` }),
      });
      return;
    }
    job.starting = false;
    job.followed = false;
    this.pool.release(r.name);
    delete r.startingAt;
    r.gpuIndexes = [];
    this.appendLog(job, `start attempt ${r.attempt} was cut short by a restart of the redeemer before the job began; it is queued again`);
    this.persist(job);
    this.schedule();
  }

  private finishFromStatus(job: LiveJob, status: Extract<RunStatus, { stage: "exited" }>): void {
    const r = job.record;
    if (status.start === undefined) {
      r.segments = [];
      this.finish(job, {
        phase: "failed",
        reason: job.stopReason ?? LOCAL_FAILURE_REASONS.startError,
        ...(status.startError !== undefined && { message: status.startError }),
      });
      return;
    }
    if (r.phase === "pending" && status.jobPid !== undefined) {
      // It ran and ended between two looks: watchers still see it running before they see the end.
      job.starting = false;
      r.phase = "running";
      r.pid = status.jobPid;
      r.segments = [this.segment(r, status.start)];
      this.emit(job);
    }
    r.segments = [this.segment(r, status.start, status.end)];
    if (status.jobPid !== undefined) r.pid = status.jobPid;
    this.finish(job, outcomeOfExit(status, job.stopReason), status.end);
  }

  /**
   * The supervisor is gone without recording the end (killed, or the machine restarted). Any of
   * the job's processes still alive are killed before anything else, then the job is charged up
   * to that moment — or, when none was alive, up to the supervisor's last heartbeat.
   */
  private async finishUnaccounted(job: LiveJob, claim: Claim, status: RunStatus | undefined, claimFile: string): Promise<void> {
    const r = job.record;
    const running = status?.stage === "running" ? status : undefined;
    const killed = await killRun(r, running, this.warn);
    const start = running?.start ?? claim.at;
    const end = killed ? nowSeconds() : Math.max(start, mtimeOf(claimFile) ?? claim.at);
    r.segments = [this.segment(r, start, end)];
    this.finish(
      job,
      {
        phase: "failed",
        reason: LOCAL_FAILURE_REASONS.interrupted,
        message: killed
          ? "the job's supervisor was gone and the job still ran: it was killed, and is charged up to then"
          : "the job's supervisor was gone (killed, or the machine restarted): charged up to its last heartbeat",
      },
      end,
    );
  }

  private finish(job: LiveJob, outcome: JobOutcome, end: number = nowSeconds()): void {
    if (isFinished(job.record)) return;
    const r = job.record;
    const open = r.segments.at(-1);
    if (open && open.end === undefined) open.end = end;
    Object.assign(r, outcome);
    r.gpuSeconds = measureGpuSeconds(r, end);
    job.starting = false;
    this.pool.release(r.name);
    this.persist(job);
    void job.writing.then(job.markEnded);
    this.emit(job);
    this.schedule();
  }

  // --- persistence, events

  /** Queues a write of the job's record as it is when the write runs (so the last write wins). */
  private persist(job: LiveJob): void {
    job.writing = job.writing.then(() => this.store.write(job.record)).catch((err: unknown) => this.warn(`cannot persist ${job.record.name}: ${(err as Error).message}`));
  }

  /** Writes the record now, after any queued write; throws when it cannot. */
  private async persistNow(job: LiveJob): Promise<void> {
    const write = job.writing.then(() => this.store.write(job.record));
    job.writing = write.catch(() => {});
    await write;
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

  private jobPath(): string {
    return this.config.path ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  }

  // --- restart

  /**
   * Reads every job back. For each job with a start under way or running, its supervisor's files
   * say whether it runs, ended, or never started; those still under way are re-adopted with the
   * GPUs recorded in their intent, all before anything is scheduled.
   */
  private async recover(): Promise<void> {
    this.lock = await prepareDataDir(this.config.dataDir, this.runDir, this.store);
    const { records, unreadable } = await this.store.readAll();
    this.recovering = true;
    for (const u of unreadable) this.markUnreadable(u.name, u.error);
    const adopted: LiveJob[] = [];
    for (const record of records) {
      const job = this.track(record);
      const plan = recoveryPlanOf(record, this.pool.capacity(record.className));
      if (plan === "follow") {
        job.starting = record.phase === "pending";
        job.followed = true;
        adopted.push(job);
      } else if (plan === "interrupted") {
        const { end, message } = stopInterrupted(record);
        this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.interrupted, message }, end);
      } else if (plan === "unschedulable") {
        // The inventory changed while it was queued: it could never start here.
        this.finish(job, {
          phase: "failed",
          reason: LOCAL_FAILURE_REASONS.unschedulable,
          message: `${record.gpus} ${record.className} GPUs asked for; this machine now has ${this.pool.capacity(record.className)}`,
        });
      }
    }
    // What each supervisor did first: a job that ended (perhaps just before the crash, its end
    // not yet in its record) must not hold, and then free, GPUs a later start was given.
    for (const job of adopted) await this.checkRun(job);
    for (const job of adopted) {
      const r = job.record;
      if (isFinished(r) || !(r.phase === "running" || job.starting)) continue;
      if (!this.pool.take(r.gpuIndexes, r.name)) {
        const others = r.gpuIndexes.map((i) => this.pool.holderOf(i)).filter((h) => h !== undefined && h !== r.name);
        this.warn(`${r.name} was started on GPUs ${r.gpuIndexes.join(",")}, also recorded for ${[...new Set(others)].join(", ")}`);
      }
    }
    await Promise.all([...this.jobs.values()].map((j) => j.writing));
    this.recovering = false;
    if (adopted.some((j) => !isFinished(j.record))) this.ensurePolling();
    this.schedule();
  }

  private markUnreadable(name: string, error: string): void {
    const found = unreadableJobState(name, error, this.warn);
    if (found !== undefined) this.unreadable.set(found.key, found.state);
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
export const createLocalExecutor = (config: LocalExecutorConfigInput, deps?: LocalExecutorDeps): Promise<LocalExecutor> => LocalExecutor.create(config, deps);
