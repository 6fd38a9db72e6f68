/**
 * An in-memory executor for the employee journey: every job starts at once, runs `runMs` of wall
 * time, and ends having used `usedSecondsPerGpu` GPU-seconds per GPU. The real redeemer drives it.
 */
import { jobNameFor, type Executor, type JobState, type LaunchRequest, type LaunchResult } from "../../../redeemer/executor/types.js";

export class FakeExecutor implements Executor {
  readonly kind = "local" as const;
  private readonly jobs = new Map<bigint, JobState>();
  private readonly listeners = new Set<(s: JobState) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private readonly finishers = new Map<bigint, () => void>();
  /** Jobs of these redemptions keep running until {@link release} is called. */
  readonly held = new Set<bigint>();

  constructor(private readonly opts: { runMs: number; usedSecondsPerGpu: number }) {}

  /** Ends a held job now. */
  release(redemptionId: bigint): void {
    this.held.delete(redemptionId);
    this.finishers.get(redemptionId)?.();
  }

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    const existing = this.jobs.get(req.redemptionId);
    if (existing) return { name: existing.name, alreadyExisted: true };
    const start = Math.floor(Date.now() / 1000);
    const state: JobState = { redemptionId: req.redemptionId, name: jobNameFor(req.redemptionId), phase: "running", segments: [{ start }], gpuSeconds: 0 };
    this.jobs.set(req.redemptionId, state);
    this.emit(state);
    const finish = () => {
      this.finishers.delete(req.redemptionId);
      const done: JobState = {
        ...state,
        phase: "succeeded",
        exitCode: 0,
        segments: [{ start, end: start + this.opts.usedSecondsPerGpu }],
        gpuSeconds: Math.min(req.gpus * this.opts.usedSecondsPerGpu, req.gpus * req.seconds),
      };
      this.jobs.set(req.redemptionId, done);
      this.emit(done);
    };
    this.finishers.set(req.redemptionId, finish);
    if (!this.held.has(req.redemptionId)) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        finish();
      }, this.opts.runMs);
      this.timers.add(timer);
    }
    return { name: state.name, alreadyExisted: false };
  }

  async get(redemptionId: bigint): Promise<JobState | undefined> {
    return this.jobs.get(redemptionId);
  }

  async list(): Promise<JobState[]> {
    return [...this.jobs.values()];
  }

  async remove(redemptionId: bigint): Promise<void> {
    this.jobs.delete(redemptionId);
  }

  watch(onChange: (state: JobState) => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private emit(state: JobState): void {
    for (const l of this.listeners) l(state);
  }
}
