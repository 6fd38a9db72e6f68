/**
 * The one concurrency limiter: at most `limit` tasks in flight, the rest wait their turn, first
 * come first served (a finishing task hands its slot straight to the next, so the limit is never
 * exceeded). `mapLimit` runs a function over a list the same way, keeping the order.
 * No Node-only imports: the web app may bundle it.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`a limiter needs a limit of 1 or more, got ${limit}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else {
        this.active -= 1;
        if (this.drainWaiters.length) {
          const ws = this.drainWaiters;
          this.drainWaiters = [];
          for (const w of ws) w();
        }
      }
    }
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves once nothing waits for a slot (tasks may still be running). */
  drained(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the results keep the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
