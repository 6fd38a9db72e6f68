/**
 * Group commit of one kind of statement across concurrent callers (PostgreSQL's holds and
 * charges): while one batch's statement runs, the next callers queue; when it returns, the queued
 * ones go in the next batch, one statement for all of them.
 *
 * A batch takes at most one item per `key` (a caller whose key is already in the batch waits for
 * a later one, in arrival order) and at most `max` items. A key can be paused (its items wait, in
 * order, until it is resumed): while a transaction of its own holds the rows a batch would lock,
 * a batch with it would wait for that transaction, and every other caller with it.
 *
 * One batch in flight at a time, unless it stalls: a statement that has run `stallMs` (waiting
 * on a row lock — a holder's row held by a durable commit waiting for the disk, by a landed
 * batch being applied — not working) lets the next batch start beside it, of keys that no batch
 * in flight has (theirs would wait on the same locks), up to `maxInFlight` batches. Without it,
 * one holder's lock wait would hold up every other holder's requests.
 *
 * When a batch's statement fails, each of its items is run again alone (`run` is told so), one
 * after the other, and a caller is rejected only if its own statement fails too: a connection cut
 * under a 64-request statement must not fail 64 requests. A statement is one transaction, but a
 * failure is not proof that nothing of it was applied: its commit may have been done and only its
 * reply lost, so a run alone first looks for what the batch left. The other callers queued go on in
 * the next batch.
 */

interface Entry<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

interface Flight {
  keys: Set<string>;
  started: number;
}

export interface GroupCommitStats {
  /** Batches run (statements sent). */
  batches: number;
  /** Items in them. */
  items: number;
  /** Batches started beside a stalled one. */
  overlapped: number;
}

export class GroupCommit<I, R> {
  private queue: Entry<I, R>[] = [];
  private readonly inFlight = new Set<Flight>();
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** Paused keys (how many times each). */
  private readonly paused = new Map<string, number>();
  readonly stats: GroupCommitStats = { batches: 0, items: 0, overlapped: 0 };

  constructor(
    private readonly options: {
      max: number;
      /** Items of one key never share a batch, nor run in two batches at once. */
      key: (item: I) => string;
      /** Runs one batch: a result per item, in the items' order (`again`: one item, after its batch failed). */
      run: (items: I[], again: boolean) => Promise<R[]>;
      /** How long a batch runs before it counts as stalled (ms). */
      stallMs: number;
      maxInFlight: number;
    },
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Holds back this key's items until {@link resume}d (as many times as paused). */
  pause(key: string): void {
    this.paused.set(key, (this.paused.get(key) ?? 0) + 1);
  }

  resume(key: string): void {
    const n = (this.paused.get(key) ?? 0) - 1;
    if (n > 0) this.paused.set(key, n);
    else this.paused.delete(key);
    this.schedule();
  }

  /** Resolves once nothing is queued or running. */
  drained(): Promise<void> {
    if (this.inFlight.size === 0 && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Whether a batch may start now: none in flight, or every one in flight stalled (and room for one more). */
  private mayStart(): boolean {
    if (this.inFlight.size === 0) return true;
    if (this.inFlight.size >= this.options.maxInFlight) return false;
    const now = performance.now();
    for (const f of this.inFlight) if (now - f.started < this.options.stallMs) return false;
    return true;
  }

  /** The next batch, after this turn of the event loop (every caller of this turn joins it). */
  private schedule(): void {
    if (this.scheduled) return;
    if (this.queue.length === 0) {
      if (this.inFlight.size === 0) for (const r of this.idle.splice(0)) r();
      return;
    }
    if (!this.mayStart()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.mayStart()) void this.runBatch();
    });
  }

  private async runBatch(): Promise<void> {
    const { max, key, run } = this.options;
    const busy = (k: string) => {
      if (this.paused.has(k)) return true;
      for (const f of this.inFlight) if (f.keys.has(k)) return true;
      return false;
    };
    const flight: Flight = { keys: new Set(), started: performance.now() };
    const batch: Entry<I, R>[] = [];
    const rest: Entry<I, R>[] = [];
    for (const e of this.queue) {
      const k = key(e.item);
      if (batch.length < max && !flight.keys.has(k) && !busy(k)) {
        flight.keys.add(k);
        batch.push(e);
      } else rest.push(e);
    }
    this.queue = rest;
    // Only items of paused keys, or of keys in flight, wait: a resume or a batch's end schedules the next.
    if (batch.length === 0) return;
    if (this.inFlight.size > 0) this.stats.overlapped++;
    this.inFlight.add(flight);
    this.stats.batches++;
    this.stats.items += batch.length;
    // Stalled by then: the next batch may start beside it.
    const stalled = this.options.maxInFlight > 1 ? setTimeout(() => this.schedule(), this.options.stallMs + 1) : undefined;
    try {
      const results = await run(
        batch.map((e) => e.item),
        false,
      );
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
    } catch (err) {
      if (batch.length === 1) batch[0].reject(err);
      else
        for (const e of batch) {
          try {
            e.resolve((await run([e.item], true))[0]);
          } catch (alone) {
            e.reject(alone);
          }
        }
    } finally {
      clearTimeout(stalled);
      this.inFlight.delete(flight);
      this.schedule();
    }
  }
}
