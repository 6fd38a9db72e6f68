/**
 * Bounded retries with jittered exponential back-off for API calls. 5xx, 429, timeouts and
 * network errors are retried; other 4xx are not (the caller handles the ones it expects,
 * such as 404 and 409, inside the attempt).
 */
import { ApiException } from "@kubernetes/client-node";
import { type BackoffPolicy, retry } from "../../../sdk/retry.js";
import { ExecutorClosed, KubernetesRequestFailed, KubernetesRequestRejected, KubernetesUnavailable } from "./errors.js";

export interface RetryPolicy {
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** Thrown inside an attempt to have it retried (a transient state the caller recognised). */
export class TryAgain extends Error {
  override readonly name = "TryAgain";
}

/** HTTP status of a failed call, if it got one. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const status = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** The `reason` and `message` of the Status object an ApiException carries. */
export function apiStatusOf(err: unknown): { reason?: string; message?: string } {
  if (!(err instanceof ApiException)) return {};
  const body: unknown = err.body;
  try {
    const status = (typeof body === "string" ? JSON.parse(body) : body) as { reason?: unknown; message?: unknown };
    return {
      ...(typeof status?.reason === "string" ? { reason: status.reason } : {}),
      ...(typeof status?.message === "string" ? { message: status.message } : {}),
    };
  } catch {
    return {};
  }
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof TryAgain || err instanceof KubernetesRequestFailed) return true;
  const status = httpStatusOf(err);
  if (status !== undefined) return status >= 500 || status === 429;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "TimeoutError") return true;
  // undici: `TypeError: fetch failed` with the socket error as its cause.
  if (err instanceof TypeError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_)/.test(code);
}

/** The back-off of the Kubernetes client's retries (sdk/retry.ts): half fixed, half random, doubling up to the cap. */
export const backoffPolicy = (policy: RetryPolicy): BackoffPolicy => ({ baseMs: policy.retryBaseMs, maxMs: policy.retryMaxMs, jitter: "half" });

export function withRetry<T>(operation: string, policy: RetryPolicy, stop: AbortSignal, attempt: () => Promise<T>): Promise<T> {
  return retry(attempt, {
    ...backoffPolicy(policy),
    maxAttempts: policy.maxAttempts,
    signal: stop,
    aborted: () => new ExecutorClosed(operation),
    retryable: isRetryable,
    giveUp: (err, n, retryable) => {
      if (retryable) return new KubernetesUnavailable(operation, n, httpStatusOf(err), { cause: err });
      const status = httpStatusOf(err);
      if (status === undefined) return err;
      const { reason, message } = apiStatusOf(err);
      return new KubernetesRequestRejected(operation, status, reason, message, { cause: err });
    },
  });
}
