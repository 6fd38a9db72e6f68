/** Errors of the `kubernetes` executor: a short message, the details attached. */

/** The API server kept failing (5xx, 429, timeouts, network) for every attempt. */
export class KubernetesUnavailable extends Error {
  override readonly name = "KubernetesUnavailable";
  constructor(
    readonly operation: string,
    readonly attempts: number,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`Kubernetes API unavailable: ${operation} failed after ${attempts} attempt${attempts === 1 ? "" : "s"}${status ? ` (last HTTP ${status})` : ""}`, options);
  }
}

/** The API server refused the request (4xx other than the ones the executor handles). */
export class KubernetesRequestRejected extends Error {
  override readonly name = "KubernetesRequestRejected";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly reason: string | undefined,
    readonly serverMessage: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`Kubernetes rejected ${operation}: HTTP ${status}${reason ? ` ${reason}` : ""}${serverMessage ? `: ${serverMessage}` : ""}`, options);
  }
}

/**
 * A request got no HTTP answer (connection refused or reset, TLS failure, response cut short):
 * retried like any network error.
 */
export class KubernetesRequestFailed extends Error {
  override readonly name = "KubernetesRequestFailed";
  constructor(
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(`${operation}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/** A Job with the redemption's name exists but belongs to something else. */
export class JobNameTaken extends Error {
  override readonly name = "JobNameTaken";
  constructor(
    readonly jobName: string,
    readonly redemptionId: bigint,
    /** The redemption-id label found on the existing Job, if any. */
    readonly foundRedemptionId: string | undefined,
  ) {
    super(
      `Job ${jobName} already exists but is not redemption ${redemptionId}` +
        (foundRedemptionId === undefined ? " (not created by the redeemer)" : ` (it is redemption ${foundRedemptionId})`),
    );
  }
}

/** The executor was closed; no further calls are made. */
export class ExecutorClosed extends Error {
  override readonly name = "ExecutorClosed";
  constructor(readonly operation: string) {
    super(`kubernetes executor is closed (${operation})`);
  }
}
