/**
 * The one retry policy: exponential back-off (`baseMs × 2^(attempt−1)`, capped at `maxMs`), with
 * optional jitter, and a sleep that an AbortSignal cuts short. The redeemer's state machine (no
 * jitter: it must be deterministic), its start-up and chain polling, and the Kubernetes API client
 * all wait this way. No Node-only imports: the web app may bundle it.
 */
export interface BackoffPolicy {
  /** The wait after the first failure. */
  baseMs: number;
  /** The longest wait. */
  maxMs: number;
  /** "half": a random wait between half the back-off and all of it (spreads retries of many callers). */
  jitter?: "none" | "half";
}

/** The wait after failed attempt `attempt` (1, 2, …). */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return policy.jitter === "half" ? ceiling / 2 + random() * (ceiling / 2) : ceiling;
}

/** Waits `ms`; resolves early (never rejects) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryOptions extends BackoffPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Whether a failure is worth another attempt (default: every failure). */
  retryable?: (err: unknown) => boolean;
  /** Stops the waiting: the last error is thrown (or `aborted()`'s, when given). */
  signal?: AbortSignal;
  /** The error to throw once `signal` has aborted. */
  aborted?: () => Error;
  /** Turns the last error into the one thrown: not retryable, or attempts exhausted. */
  giveUp?: (err: unknown, attempts: number, exhausted: boolean) => unknown;
}

/** Runs `attempt` until it succeeds, the failure is not retryable, or `maxAttempts` are spent. */
export async function retry<T>(attempt: (n: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const stopped = () => (o.aborted ? o.aborted() : new Error("aborted"));
  for (let n = 1; ; n++) {
    if (o.signal?.aborted) throw stopped();
    try {
      return await attempt(n);
    } catch (err) {
      if (o.signal?.aborted) throw stopped();
      const again = o.retryable ? o.retryable(err) : true;
      if (!again || n >= o.maxAttempts) throw o.giveUp ? o.giveUp(err, n, again) : err;
      await sleep(backoffMs(n, o), o.signal);
      if (o.signal?.aborted) throw stopped();
    }
  }
}
