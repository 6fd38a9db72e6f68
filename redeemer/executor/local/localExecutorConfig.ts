/**
 * Configuration of the `local` executor, validated once at start-up.
 *
 * The local executor is for a single machine and for demos: it cannot pull or run container
 * images. It runs `spec.command[0]` directly (no shell) from the machine's PATH, and only when
 * that command is on `allowedCommands`. Note that an interpreter or a shell on the list ("sh",
 * "python3") lets a job run anything that user account can.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { parseConfig } from "../../../sdk/ctkError.js";

/** A real GPU, addressed by its CUDA device index. */
const gpuSlotSchema = z
  .object({
    index: z.number().int().min(0),
    class: z.string().min(1),
    /** GPU Feature Discovery product label, e.g. "NVIDIA-H100-80GB-HBM3"; default: the class name. */
    productLabel: z.string().min(1).optional(),
  })
  .strict();

/** Stand-in GPUs for machines without one: jobs get a CUDA_VISIBLE_DEVICES all the same. */
const simulatedSlotSchema = z
  .object({
    simulated: z.literal(true),
    class: z.string().min(1),
    productLabel: z.string().min(1).optional(),
    /** How many slots this entry stands for. */
    count: z.number().int().min(1).max(1024).default(1),
    /** CUDA index of the first slot; default: after every other slot. */
    index: z.number().int().min(0).optional(),
  })
  .strict();

export const localExecutorConfigSchema = z
  .object({
    /** Holds jobs/<job>.json (state), logs/<job>.log (stdout + stderr) and work/<job>/ (cwd). */
    dataDir: z.string().min(1),
    /** The GPU inventory. Absent: detect with `nvidia-smi` when it is installed, else no GPUs. */
    gpus: z.array(z.union([simulatedSlotSchema, gpuSlotSchema])).optional(),
    /** nvidia-smi binary used for detection. */
    nvidiaSmi: z.string().min(1).default("nvidia-smi"),
    /** Detected product name ("NVIDIA H100 80GB HBM3") or label → class; default: the label. */
    productClasses: z.record(z.string(), z.string().min(1)).default({}),
    /** Commands a job may run: names looked up on PATH, or absolute paths. */
    allowedCommands: z.array(z.string().min(1)).min(1).default(["node", "python3", "sleep", "sh"]),
    /** JSON file of named secrets (`{ "hf-token": "…" }`) a job's `spec.secrets` draws from (see ../jobSecrets.ts). */
    secretsFile: z.string().min(1).optional(),
    /** PATH used to find commands, and given to jobs; default: the redeemer's own PATH. */
    path: z.string().optional(),
    /** Real seconds between SIGTERM at the deadline and SIGKILL. */
    killGraceSeconds: z.number().min(0).default(10),
    /** Real seconds between persisted heartbeats of a running job. */
    heartbeatSeconds: z.number().positive().default(5),
    /**
     * Real seconds per allotted second; below 1 only for tests and demos (0.01 runs a
     * one-hour allotment in 36 s). Usage is reported in allotted seconds.
     */
    timeScale: z.number().positive().max(1).default(1),
    /** `close()` terminates running jobs (SIGTERM, then SIGKILL after the grace) instead of leaving them. */
    killRunningOnClose: z.boolean().default(false),
    /** Recorded as each run segment's node. */
    nodeName: z
      .string()
      .min(1)
      .default(() => hostname()),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<number, number>();
    config.gpus?.forEach((slot, i) => {
      if ("simulated" in slot) return;
      const first = seen.get(slot.index);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: ["gpus", i, "index"], message: `GPU index ${slot.index} is already used by gpus.${first}` });
      }
      seen.set(slot.index, i);
    });
  });

export type LocalExecutorConfig = z.output<typeof localExecutorConfigSchema>;
export type LocalExecutorConfigInput = z.input<typeof localExecutorConfigSchema>;

/** @throws ConfigError */
export function parseLocalExecutorConfig(raw: unknown, source?: string): LocalExecutorConfig {
  return parseConfig(localExecutorConfigSchema, "local executor config", raw, source);
}
