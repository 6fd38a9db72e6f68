/** An in-memory Executor whose jobs move only when the test says so. */
import type { Executor, JobState, LaunchRequest, LaunchResult } from "../../../redeemer/executor/types.js";
import { jobNameFor } from "../../../redeemer/executor/types.js";

export class MemoryExecutor implements Executor {
  readonly kind = "local" as const;
  readonly jobs = new Map<bigint, JobState>();
  readonly launches: LaunchRequest[] = [];
  healthy = true;
  /** Make the next launches throw this. */
  failLaunchWith: Error | undefined;
  private readonly listeners = new Set<(s: JobState) => void>();

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    if (this.failLaunchWith) throw this.failLaunchWith;
    this.launches.push(req);
    const name = jobNameFor(req.redemptionId);
    if (this.jobs.has(req.redemptionId)) return { name, alreadyExisted: true };
    this.set({ redemptionId: req.redemptionId, name, phase: "pending", segments: [], gpuSeconds: 0 });
    return { name, alreadyExisted: false };
  }

  start(id: bigint): void {
    const j = this.jobs.get(id)!;
    this.set({ ...j, phase: "running", segments: [{ start: 1_000, node: "mem-node" }] });
  }

  finish(id: bigint, gpuSeconds: number, exitCode = 0): void {
    const j = this.jobs.get(id)!;
    this.set({ ...j, phase: exitCode === 0 ? "succeeded" : "failed", exitCode, gpuSeconds, segments: [{ start: 1_000, end: 1_000 + gpuSeconds, node: "mem-node" }] });
  }

  async get(id: bigint): Promise<JobState | undefined> {
    return this.jobs.get(id);
  }
  async list(): Promise<JobState[]> {
    return [...this.jobs.values()];
  }
  async remove(id: bigint): Promise<void> {
    this.jobs.delete(id);
  }
  watch(onChange: (s: JobState) => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }
  async ping(): Promise<boolean> {
    return this.healthy;
  }
  async close(): Promise<void> {
    this.listeners.clear();
  }

  private set(s: JobState): void {
    this.jobs.set(s.redemptionId, s);
    for (const l of this.listeners) l(s);
  }
}
