/**
 * SQLite through better-sqlite3: WAL, `BEGIN IMMEDIATE` transactions (the write lock is taken
 * before the first read, so two processes on one file cannot interleave a read-check-write)
 * serialised in-process by a queue, since the ledger's transaction bodies are async.
 *
 * Durability (`synchronous: "full"`, the default) is a group commit: SQLite itself runs with
 * `synchronous = NORMAL` (a commit appends its frames to the WAL file, no fsync, so the one
 * JavaScript thread never blocks on the disk), and a durable transaction resolves only after an
 * fsync of the WAL file that *started after* its commit, run on libuv's thread pool. Every commit
 * waiting meanwhile shares the next fsync. A checkpoint syncs the WAL before copying it and the
 * database after (SQLite's NORMAL mode), so frames checkpointed away are durable too. With
 * `synchronous: "normal"` nothing waits for the disk (durable against a process crash, not a
 * power loss).
 */
import { closeSync, fsync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Row, SqlDriver, SqlTx, SqlValue } from "./sql.js";

const named = (sql: string) => sql.replace(/\$(\d+)/g, "@p$1");
const bind = (params: readonly SqlValue[] = []) => {
  const o: Record<string, SqlValue> = {};
  params.forEach((v, i) => (o[`p${i + 1}`] = typeof v === "number" && !Number.isInteger(v) ? v : typeof v === "number" ? BigInt(v) : v));
  return o;
};

/**
 * One transaction queue per database file for the whole process: a second connection's
 * BEGIN IMMEDIATE would block the (single) thread while the first one's async body waits on it.
 */
const QUEUES = new Map<string, { tail: Promise<unknown> }>();

export class SqliteDriver implements SqlDriver {
  readonly kind = "sqlite" as const;
  readonly forUpdate = "";
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly queue: { tail: Promise<unknown> };
  /** The WAL file durable commits fsync (undefined: nothing to sync, e.g. in memory or `normal`). */
  private readonly walFile: string | undefined;
  private walFd: number | undefined;
  /** The fsync in flight, and the one queued to start after it. */
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;

  constructor(file: string, synchronous: "full" | "normal" = "full") {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    const key = file === ":memory:" ? `:memory:${Math.random()}` : resolve(file);
    this.queue = QUEUES.get(key) ?? { tail: Promise.resolve() };
    QUEUES.set(key, this.queue);
    this.db.defaultSafeIntegers(true);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 10000");
    this.walFile = file !== ":memory:" && synchronous === "full" ? `${resolve(file)}-wal` : undefined;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(named(sql));
      this.statements.set(sql, s);
    }
    return s;
  }

  private readonly tx: SqlTx = {
    all: async (sql, params) => this.stmt(sql).all(bind(params)) as Row[],
    one: async (sql, params) => this.stmt(sql).get(bind(params)) as Row | undefined,
    run: async (sql, params) => this.stmt(sql).run(bind(params)).changes,
  };

  /** Resolves after an fsync of the WAL that started after this call (group commit). */
  private syncWal(): Promise<void> {
    if (!this.walFile) return Promise.resolve();
    if (!this.syncing) {
      const fd = (this.walFd ??= openSync(this.walFile, "r"));
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
    const run = async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.tx);
        this.db.exec("COMMIT");
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    };
    const p = this.queue.tail.then(run, run);
    this.queue.tail = p.catch(() => undefined);
    if (options.durable === false) return p;
    return p.then(async (result) => {
      await this.syncWal();
      return result;
    });
  }

  async statement(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.transaction(async (tx) => tx.all(sql, params));
  }

  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  async close(): Promise<void> {
    await this.queue.tail;
    await this.nextSync?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.db.close();
  }
}
