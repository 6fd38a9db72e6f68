/**
 * SQLite through better-sqlite3: WAL, `synchronous = FULL` (a charge is on disk when its
 * transaction commits), `BEGIN IMMEDIATE` transactions (the write lock is taken before the first
 * read, so two processes on one file cannot interleave a read-check-write) serialised in-process
 * by a queue, since the ledger's transaction bodies are async.
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Row, SqlDriver, SqlTx, SqlValue } from "./sql.js";

const named = (sql: string) => sql.replace(/\$(\d+)/g, "@p$1");
const bind = (params: readonly SqlValue[] = []) => {
  const o: Record<string, SqlValue> = {};
  for (const [i, v] of params.entries()) o[`p${i + 1}`] = typeof v === "number" && !Number.isInteger(v) ? v : typeof v === "number" ? BigInt(v) : v;
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

  constructor(file: string, synchronous: "full" | "normal" = "full") {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    const key = file === ":memory:" ? `:memory:${Math.random()}` : resolve(file);
    this.queue = QUEUES.get(key) ?? { tail: Promise.resolve() };
    QUEUES.set(key, this.queue);
    this.db.defaultSafeIntegers(true);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
    this.db.pragma("busy_timeout = 10000");
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

  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
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
    return p;
  }

  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  async close(): Promise<void> {
    await this.queue.tail;
    this.db.close();
  }
}
