/**
 * What the local executor persists per job in <dataDir>/jobs/<jobName>.json: the request (so a
 * queued job survives a restart), its state, and which start attempt is under way (written before
 * its supervisor is spawned: what the supervisor did with it is in <dataDir>/run/, runFiles.ts).
 */
import { z } from "zod";
import { PRIORITIES, jobSpecSchema } from "../../../sdk/jobSpec.js";
import type { JobState } from "../types.js";

export const JOB_RECORD_VERSION = 1;

export const jobRecordSchema = z.object({
  version: z.literal(JOB_RECORD_VERSION),
  redemptionId: z.string().regex(/^\d+$/),
  name: z.string().min(1),
  className: z.string().min(1),
  productLabel: z.string(),
  gpus: z.number().int().positive(),
  /** Allotted seconds (unscaled). */
  seconds: z.number().int().positive(),
  priority: z.enum(PRIORITIES),
  spec: jobSpecSchema,
  /** Arrival order, for the queue. */
  seq: z.number().int().nonnegative(),
  /** Real seconds per allotted second this job runs at. */
  timeScale: z.number().positive(),
  /** Unix seconds. */
  createdAt: z.number(),
  phase: z.enum(["pending", "running", "succeeded", "failed"]),
  segments: z.array(z.object({ start: z.number(), end: z.number().optional(), node: z.string().optional(), gpuProduct: z.string().optional() })),
  gpuSeconds: z.number().int().nonnegative(),
  exitCode: z.number().int().optional(),
  signal: z.string().optional(),
  reason: z.string().optional(),
  /** One line of detail for a failure the reason does not explain. */
  message: z.string().optional(),
  /** CUDA indexes held while running. */
  gpuIndexes: z.array(z.number().int().nonnegative()),
  pid: z.number().int().positive().optional(),
  /** Kernel start time of `pid` (Linux /proc), to tell our process from a recycled pid. */
  pidStartTime: z.string().optional(),
  /** Unix seconds at which a start began: set (and persisted) before the supervisor is spawned. */
  startingAt: z.number().optional(),
  /** The start attempt under way or last made (1, 2, …): names its files in <dataDir>/run/. */
  attempt: z.number().int().positive().optional(),
  /** Carried by the job's processes in CTK_JOB_RUN: finds them when their supervisor is gone. */
  runToken: z.string().optional(),
  /** The attempt's supervisor, once known (its claim): pid and kernel start time. */
  supervisorPid: z.number().int().positive().optional(),
  supervisorStartTime: z.string().optional(),
  /** Unix seconds of the last persisted heartbeat while running (records of before supervisors). */
  heartbeatAt: z.number().optional(),
});

export type JobRecord = z.output<typeof jobRecordSchema>;

/** The executor-interface view of a record (`gpuSeconds` as given, e.g. measured live). */
export function toJobState(r: JobRecord, gpuSeconds: number = r.gpuSeconds): JobState {
  return {
    redemptionId: BigInt(r.redemptionId),
    name: r.name,
    phase: r.phase,
    segments: r.segments.map((s) => ({
      start: s.start,
      ...(s.end !== undefined && { end: s.end }),
      ...(s.node !== undefined && { node: s.node }),
      ...(s.gpuProduct !== undefined && { gpuProduct: s.gpuProduct }),
    })),
    gpuSeconds,
    ...(r.exitCode !== undefined && { exitCode: r.exitCode }),
    ...(r.reason !== undefined && { reason: r.reason }),
  };
}
