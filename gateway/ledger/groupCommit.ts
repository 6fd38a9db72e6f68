/**
 * Group commit of one kind of statement across concurrent callers (PostgreSQL's holds and
 * charges): while one batch's statement runs, the next callers queue; when it returns, the queued
 * ones go in the next batch, one statement for all of them. One batch in flight at a time.
 *
 * A batch takes at most one item per `key` (a caller whose key is already in the batch waits for
 * a later one, in arrival order) and at most `max` items. A key can be paused (its items wait, in
 * order, until it is resumed): while a transaction of its own holds the rows a batch would lock,
 * a batch with it would wait for that transaction, and every other caller with it. When the statement fails, every caller
 * of that batch is rejected with its error (a statement is one transaction: nothing of it was
 * applied); the other callers queued go on in the next batch.
 */

interface Entry<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitStats {
  /** Batches run (statements sent). */
  batches: number;
  /** Items in them. */
  items: number;
}

export class GroupCommit<I, R> {
  private queue: Entry<I, R>[] = [];
  private running = false;
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** Paused keys (how many times each). */
  private readonly paused = new Map<string, number>();
  readonly stats: GroupCommitStats = { batches: 0, items: 0 };

  constructor(
    private readonly options: {
      max: number;
      /** Items of one key never share a batch. */
      key: (item: I) => string;
      /** Runs one batch: a result per item, in the items' order. */
      run: (items: I[]) => Promise<R[]>;
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
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** The next batch, after this turn of the event loop (every caller of this turn joins it). */
  private schedule(): void {
    if (this.running || this.scheduled) return;
    if (this.queue.length === 0) {
      for (const r of this.idle.splice(0)) r();
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runBatch();
    });
  }

  private async runBatch(): Promise<void> {
    const { max, key, run } = this.options;
    const keys = new Set<string>();
    const batch: Entry<I, R>[] = [];
    const rest: Entry<I, R>[] = [];
    for (const e of this.queue) {
      const k = key(e.item);
      if (batch.length < max && !keys.has(k) && !this.paused.has(k)) {
        keys.add(k);
        batch.push(e);
      } else rest.push(e);
    }
    this.queue = rest;
    // Only paused keys' items wait: the next batch runs when one is resumed.
    if (batch.length === 0) return;
    this.running = true;
    this.stats.batches++;
    this.stats.items += batch.length;
    try {
      const results = await run(batch.map((e) => e.item));
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
    } catch (err) {
      for (const e of batch) e.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
