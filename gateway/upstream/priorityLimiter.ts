/**
 * The gateway's one concurrency limiter: at most `concurrency` requests at an upstream at once;
 * the rest wait in a priority queue (urgent before high before normal before low, first come
 * first served within a tier). A waiter whose client went away leaves the queue.
 */
export class QueueAbortedError extends Error {
  constructor() {
    super("the request left the queue");
    this.name = "QueueAbortedError";
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

  /** Waits for a slot; `rank` 0 (low) … 3 (urgent). Resolves to the release function. */
  acquire(rank: number, signal?: AbortSignal): Promise<() => void> {
    const release = () => {
      this.running--;
      this.next();
    };
    if (this.running < this.concurrency && this.queue.length === 0) {
      this.running++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        rank,
        seq: this.seq++,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          this.running++;
          resolve(once(release));
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new QueueAbortedError());
      };
      if (signal?.aborted) return reject(new QueueAbortedError());
      signal?.addEventListener("abort", onAbort, { once: true });
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
