export interface UsageInput {
  gpus: number;
  /** Allotted seconds (the cap). */
  seconds: number;
  /** Real seconds per allotted second. */
  timeScale: number;
  segments: readonly { start: number; end?: number | undefined }[];
}

/**
 * GPU-seconds used: gpus × the time the job held them (each open segment counted up to `now`),
 * in allotted seconds rounded up to whole seconds, capped at gpus × allotted seconds.
 */
export function measureGpuSeconds(input: UsageInput, now: number = Date.now() / 1000): number {
  let heldMs = 0;
  for (const s of input.segments) heldMs += Math.max(0, Math.round(((s.end ?? now) - s.start) * 1000));
  const held = Math.ceil(heldMs / 1000 / input.timeScale - 1e-9);
  return Math.min(input.gpus * input.seconds, input.gpus * Math.max(0, held));
}
