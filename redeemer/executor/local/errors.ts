import type { RejectReason } from "../../../sdk/reasons.js";
import { CtkError } from "../../../sdk/ctkError.js";

export type LocalLaunchProblem = "COMMAND_MISSING" | "COMMAND_NOT_ALLOWED" | "COMMAND_NOT_FOUND" | "INVALID_ARGUMENT" | "CLASS_UNAVAILABLE" | "TOO_MANY_GPUS";

/**
 * The local executor refused to launch a job. `reason` is the on-chain reject reason the
 * redeemer should use (nothing was started, so the redemption is refunded in full).
 */
export class LocalLaunchError extends Error {
  override readonly name = "LocalLaunchError";
  readonly reason: RejectReason;

  constructor(
    readonly problem: LocalLaunchProblem,
    message: string,
    readonly redemptionId?: bigint,
  ) {
    super(message);
    this.reason = problem === "CLASS_UNAVAILABLE" || problem === "TOO_MANY_GPUS" ? "CLASS_UNAVAILABLE" : "LAUNCH_FAILED";
  }
}

/** Another executor (in this or another process) is using the data directory. */
export class DataDirInUse extends CtkError {
  override readonly name = "DataDirInUse";
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the local executor's data directory ${dataDir} is in use by process ${pid}`);
  }
}
