/**
 * The gateway's one concurrency limiter: at most `concurrency` requests at an upstream at once;
 * the rest wait in a priority queue (urgent before high before normal before low, first come
 * first served within a tier). A waiter whose client went away leaves the queue; so does one that
 * waited its bound (the model's `queueTimeoutMs`: a request's life must stay shorter than the time
 * after which another replica may take its hold, see gateway/config.ts).
 */
export class QueueAbortedError extends Error {
  constructor() {
    super("the request left the queue");
    this.name = "QueueAbortedError";
  }
}

/** A waiter that waited `waitedMs`, its bound, without a slot: it left the queue. */
export class QueueTimeoutError extends Error {
  constructor(readonly waitedMs: number) {
    super(`the request waited ${waitedMs} ms in the queue without a slot`);
    this.name = "QueueTimeoutError";
  }
}

interface Waiter {
  rank: number;
  seq: number;
  grant: () => void;
}

export class PriorityLimiter {
  private running = 0;
  private seq = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly concurrency: number) {}

  get depth(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.running;
  }

  /**
   * Waits for a slot; `rank` 0 (low) … 3 (urgent). Resolves to the release function; rejects with
   * {@link QueueAbortedError} once `signal` aborts, {@link QueueTimeoutError} after `timeoutMs`
   * without a slot (the waiter leaves the queue either way).
   */
  acquire(rank: number, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<() => void> {
    const { signal, timeoutMs } = options;
    const release = () => {
      this.running--;
      this.next();
    };
    if (this.running < this.concurrency && this.queue.length === 0) {
      this.running++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        rank,
        seq: this.seq++,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          clearTimeout(timer);
          this.running++;
          resolve(once(release));
        },
      };
      const leave = (err: Error) => {
        signal?.removeEventListener("abort", onAbort);
        clearTimeout(timer);
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        reject(err);
      };
      const onAbort = () => leave(new QueueAbortedError());
      if (signal?.aborted) return reject(new QueueAbortedError());
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(() => leave(new QueueTimeoutError(timeoutMs)), timeoutMs);
      // Sorted insert: higher rank first, then arrival.
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1].rank < rank) i--;
      this.queue.splice(i, 0, w);
    });
  }

  private next(): void {
    while (this.running < this.concurrency && this.queue.length > 0) this.queue.shift()!.grant();
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}
