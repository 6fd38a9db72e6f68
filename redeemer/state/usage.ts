/**
 * From measured GPU-seconds to units consumed. 1 unit = 1 GPU-second at 1.0x; a priority's
 * multiplier prices it, as at redeem time: ceil(gpuSeconds × bps / 10000), rounded the same way
 * the contract rounds the reservation, and never more than was reserved.
 */
import { unitsFor } from "../../sdk/jobSpec.js";

/** Whole GPU-seconds of a measurement (a float from the executor), rounded up past float noise. */
export function wholeGpuSeconds(gpuSeconds: number): bigint {
  if (!Number.isFinite(gpuSeconds) || gpuSeconds <= 0) return 0n;
  return BigInt(Math.ceil(gpuSeconds - 1e-6));
}

/** Units to settle: ceil(seconds × bps / 10000), capped at `reserved`. */
export function usedUnits(gpuSeconds: number, multiplierBps: number, reserved: bigint): bigint {
  const units = unitsFor(1, wholeGpuSeconds(gpuSeconds), multiplierBps);
  return units > reserved ? reserved : units;
}
