/**
 * SQLite through better-sqlite3, with group commit. The ledger's transactions queue up and run in
 * batches: one `BEGIN IMMEDIATE … COMMIT` around every transaction that arrived since the last
 * batch; a transaction that throws is rolled back alone, the others commit. No SAVEPOINT per
 * transaction (two statements more for each): one that throws before writing anything left
 * nothing to undo, and after the rare one that throws having written, the batch is rolled back
 * and run again without it. A batch writes each hot page (a holder's row, an index leaf) to the WAL once instead of
 * once per request. BEGIN IMMEDIATE takes the write lock before the first read, so two processes
 * on one file cannot interleave a read-check-write; within the process, batches run one at a time.
 *
 * Durability (`synchronous: "full"`, the default): SQLite itself runs with `synchronous = NORMAL`
 * (a commit appends its frames to the WAL file, no fsync, so the one JavaScript thread never
 * blocks on the disk), and a durable transaction resolves only after an fsync of the WAL file that
 * *started after* its batch committed, run on libuv's thread pool; every commit waiting meanwhile
 * shares the next fsync. A checkpoint syncs the WAL before copying it and the database after
 * (SQLite's NORMAL mode), so frames checkpointed away are durable too. A transaction with
 * `durable: false` (a hold) resolves at its batch's commit. With `synchronous: "normal"` nothing
 * waits for the disk (durable against a process crash, not a power loss).
 *
 * Checkpoints (copying the WAL back into the database file, with its two fsyncs) run on a worker
 * thread with a connection of its own (`PRAGMA wal_checkpoint(PASSIVE)`: it never blocks a writer),
 * not inside a COMMIT on the thread that serves requests, where SQLite's automatic checkpoint
 * would stall every request for a few milliseconds each time the WAL reached 1,000 pages.
 */
import { closeSync, fsync, mkdirSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import type { Row, SqlDriver, SqlTx, SqlValue } from "./sql.js";

const named = (sql: string) => sql.replace(/\$(\d+)/g, "@p$1");
const NAMES = Array.from({ length: 64 }, (_, i) => `p${i + 1}`);
const bind = (params: readonly SqlValue[] = []) => {
  const o: Record<string, SqlValue> = {};
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    o[NAMES[i] ?? `p${i + 1}`] = typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v;
  }
  return o;
};

/**
 * The checkpointing thread: checkpoints whenever asked (at most one at a time), answers with
 * SQLite's [busy, log frames, frames checkpointed].
 */
const CHECKPOINTER = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 0");
db.pragma("synchronous = NORMAL");
parentPort.on("message", (m) => {
  if (m === "close") {
    db.close();
    parentPort.close();
    return;
  }
  let row;
  try {
    row = db.pragma("wal_checkpoint(PASSIVE)")[0];
  } catch (err) {
    row = { error: String(err && err.message) };
  }
  parentPort.postMessage(row);
});
`;

/** How often the WAL is checkpointed when something was committed since the last time. */
const CHECKPOINT_MS = 200;
/**
 * WAL frames (pages) past which the next batch waits for a checkpoint: under a steady load every
 * checkpoint races new commits and never copies the whole WAL, and SQLite restarts the WAL from
 * its start only at a BEGIN that finds it wholly copied; without this it grows without end.
 */
const RESTART_FRAMES = 4_096;

/**
 * Runs SQLite checkpoints on a worker thread. Where the thread cannot start, `start` returns
 * undefined; if it stops, `onFail` runs (the connection goes back to SQLite's automatic checkpoints).
 */
class Checkpointer {
  private inFlight: Promise<void> | undefined;
  private answer: (() => void) | undefined;
  private dirty = false;
  private closed = false;
  /** Frames in the WAL when the last checkpoint started. */
  private frames = 0;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly worker: Worker,
    private readonly onFail: () => void,
  ) {
    worker.unref();
    worker.on("message", (row: { log?: number }) => {
      if (typeof row.log === "number") this.frames = row.log;
      this.settle();
    });
    const fail = () => {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this.timer);
      this.settle();
      this.onFail();
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    this.timer = setInterval(() => this.tick(), CHECKPOINT_MS);
    this.timer.unref();
  }

  static start(file: string, onFail: () => void): Checkpointer | undefined {
    try {
      const module = createRequire(import.meta.url).resolve("better-sqlite3");
      return new Checkpointer(new Worker(CHECKPOINTER, { eval: true, workerData: { file, module } }), onFail);
    } catch {
      return undefined;
    }
  }

  private settle(): void {
    const answer = this.answer;
    this.inFlight = undefined;
    this.answer = undefined;
    answer?.();
  }

  private checkpoint(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.inFlight) {
      this.inFlight = new Promise<void>((resolve) => {
        this.answer = resolve;
      });
      this.worker.postMessage("checkpoint");
    }
    return this.inFlight;
  }

  /** Something was committed: checkpoint at the next tick. */
  committed(): void {
    this.dirty = true;
  }

  private tick(): void {
    if (!this.dirty || this.inFlight || this.closed) return;
    this.dirty = false;
    void this.checkpoint();
  }

  /**
   * Before a batch: once the WAL has grown past {@link RESTART_FRAMES}, wait (the thread stays free
   * for everything else) for a checkpoint with nothing committed meanwhile. It copies every frame,
   * so the batch's BEGIN restarts the WAL from its start.
   */
  async beforeBatch(): Promise<void> {
    if (this.frames < RESTART_FRAMES || this.closed) return;
    // The checkpoint in flight may have started before the last commits.
    if (this.inFlight) await this.inFlight;
    await this.checkpoint();
    this.frames = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.worker.ref();
    const exited = new Promise<void>((done) => this.worker.once("exit", () => done()));
    this.worker.postMessage("close");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((done) => (timer = setTimeout(done, 2_000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
    this.settle();
  }
}

interface Job {
  owner: SqliteDriver;
  fn: (tx: SqlTx) => Promise<unknown>;
  durable: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * One batch queue per database file for the whole process: a second connection's BEGIN IMMEDIATE
 * would block the (single) thread while the first one's batch waits on it.
 */
interface Queue {
  jobs: Job[];
  running: Promise<void> | undefined;
  scheduled: boolean;
}
const QUEUES = new Map<string, Queue>();

export class SqliteDriver implements SqlDriver {
  readonly kind = "sqlite" as const;
  readonly forUpdate = "";
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly queue: Queue;
  /** The batch's transaction control, prepared once (db.exec parses its SQL on every call). */
  private readonly control: Record<"begin" | "commit", Database.Statement>;
  /** The WAL file durable commits fsync (undefined: nothing to sync, e.g. in memory or `normal`). */
  private readonly walFile: string | undefined;
  private walFd: number | undefined;
  /** The fsync in flight, and the one queued to start after it. */
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;
  /** Checkpoints off this thread (undefined: in memory, or SQLite's automatic checkpoints). */
  private readonly checkpointer: Checkpointer | undefined;

  constructor(file: string, synchronous: "full" | "normal" = "full") {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    const key = file === ":memory:" ? `:memory:${Math.random()}` : resolve(file);
    this.queue = QUEUES.get(key) ?? { jobs: [], running: undefined, scheduled: false };
    QUEUES.set(key, this.queue);
    this.db.defaultSafeIntegers(true);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 10000");
    this.walFile = file !== ":memory:" && synchronous === "full" ? `${resolve(file)}-wal` : undefined;
    if (file !== ":memory:") {
      this.checkpointer = Checkpointer.start(resolve(file), () => {
        if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
      });
      // The WAL file is cut back to this size when it restarts (after a complete checkpoint).
      if (this.checkpointer) this.db.pragma("wal_autocheckpoint = 0");
      this.db.pragma("journal_size_limit = 67108864");
    }
    this.control = {
      begin: this.db.prepare("BEGIN IMMEDIATE"),
      commit: this.db.prepare("COMMIT"),
    };
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(named(sql));
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Whether the running transaction has written (run a statement that is not read-only). */
  private wrote = false;

  private write(sql: string): Database.Statement {
    const s = this.stmt(sql);
    if (!s.readonly) this.wrote = true;
    return s;
  }

  private readonly tx: SqlTx = {
    all: async (sql, params) => this.write(sql).all(bind(params)) as Row[],
    one: async (sql, params) => this.write(sql).get(bind(params)) as Row | undefined,
    run: async (sql, params) => this.write(sql).run(bind(params)).changes,
  };

  /** Resolves after an fsync of the WAL that started after this call (group commit). */
  private syncWal(): Promise<void> {
    if (!this.walFile) return Promise.resolve();
    if (!this.syncing) {
      this.walFd ??= openSync(this.walFile, "r");
      const fd = this.walFd;
      this.syncing = new Promise<void>((done, fail) => fsync(fd, (err) => (err ? fail(err) : done()))).finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    // The fsync in flight may have started before this commit: wait for the next one.
    this.nextSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.nextSync = undefined;
        return this.syncWal();
      });
    return this.nextSync;
  }

  transaction<T>(fn: (tx: SqlTx) => Promise<T>, options: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.jobs.push({ owner: this, fn, durable: options.durable !== false, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Runs the next batch once the current one is done and this turn of the event loop is over. */
  private schedule(): void {
    const q = this.queue;
    if (q.scheduled || q.running) return;
    q.scheduled = true;
    setImmediate(() => {
      q.scheduled = false;
      // A batch runs on one connection: the oldest job's (another connection's jobs wait their turn).
      const owner = q.jobs[0]?.owner ?? this;
      const jobs = q.jobs.filter((j) => j.owner === owner);
      q.jobs = q.jobs.filter((j) => j.owner !== owner);
      q.running = owner.beforeBatch(jobs).finally(() => {
        q.running = undefined;
        if (q.jobs.length) this.schedule();
      });
    });
  }

  private async beforeBatch(jobs: Job[]): Promise<void> {
    await this.checkpointer?.beforeBatch();
    await this.runBatch(jobs);
  }

  private async runBatch(all: Job[]): Promise<void> {
    let jobs = all;
    /** [job, its result, whether it wrote]. */
    let done: [Job, unknown, boolean][] = [];
    for (;;) {
      if (jobs.length === 0) return;
      done = [];
      try {
        this.control.begin.run();
      } catch (err) {
        for (const j of jobs) j.reject(err);
        return;
      }
      let next = 0;
      /** A transaction that threw having written: the batch is run again without it. */
      let failed: Job | undefined;
      try {
        for (; next < jobs.length; next++) {
          const job = jobs[next];
          this.wrote = false;
          try {
            const result = await job.fn(this.tx);
            done.push([job, result, this.wrote]);
          } catch (err) {
            job.reject(err);
            // SQLite may have rolled the whole transaction back itself (a disk error): stop the batch.
            if (!this.db.inTransaction) throw err;
            if (this.wrote) {
              failed = job;
              break;
            }
          }
        }
        if (failed) {
          this.db.exec("ROLLBACK");
          jobs = jobs.filter((j) => j !== failed);
          continue;
        }
        this.control.commit.run();
        this.checkpointer?.committed();
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        for (const [j] of done) j.reject(err);
        for (const j of jobs.slice(next + 1)) j.reject(err);
        return;
      }
      break;
    }
    const durable: [Job, unknown][] = [];
    for (const [job, result, wrote] of done) {
      // A transaction that wrote nothing (a read) has nothing to wait for on the disk.
      if (job.durable && wrote && this.walFile) durable.push([job, result]);
      else job.resolve(result);
    }
    if (durable.length === 0) return;
    // The next batch may run while this one's fsync is in flight.
    void this.syncWal().then(
      () => {
        for (const [job, result] of durable) job.resolve(result);
      },
      (err) => {
        for (const [job] of durable) job.reject(err);
      },
    );
  }

  async statement(sql: string, params?: readonly SqlValue[], options: { durable?: boolean } = {}): Promise<Row[]> {
    return this.transaction(async (tx) => tx.all(sql, params), options);
  }

  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  async close(): Promise<void> {
    while (this.queue.running || this.queue.scheduled || this.queue.jobs.length) {
      await (this.queue.running ?? new Promise((r) => setImmediate(r)));
    }
    await this.nextSync?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    await this.checkpointer?.close();
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.db.close();
  }
}
