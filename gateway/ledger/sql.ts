/**
 * The two databases behind one ledger: SQLite (better-sqlite3, the embedded default) and
 * PostgreSQL (`pg`, several gateway replicas on one database). The ledger's logic is written once
 * against {@link SqlTx}; SQL uses `$1 … $n` placeholders and the portable subset both understand
 * (BIGINT, TEXT, `SELECT … FOR UPDATE` only where {@link SqlDriver.forUpdate} says so).
 */

export type SqlValue = string | number | bigint | null;
export type Row = Record<string, unknown>;

export interface SqlTx {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  one(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDriver {
  readonly kind: "sqlite" | "postgres";
  /** " FOR UPDATE" on PostgreSQL (row locks), "" on SQLite (BEGIN IMMEDIATE locks the database). */
  readonly forUpdate: string;
  /**
   * Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. Resolves
   * once the commit is durable (on disk), unless `durable: false`: then once it is visible to
   * every later transaction, its durability left to the next durable commit (the log is
   * sequential, so a later durable commit makes every earlier one durable too). Holds use it:
   * a crash releases them anyway, and the charge that converts one is durable.
   */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
  /**
   * One statement in its own transaction (retried on a serialization failure or deadlock), durable
   * unless `durable: false` (as for {@link transaction}).
   */
  statement(sql: string, params?: readonly SqlValue[], options?: { durable?: boolean }): Promise<Row[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * PostgreSQL: the most grouped statements of one kind the ledger runs at once (see its
 * PG_GROUPING); the driver keeps as many connections of each pool open while idle, so that a burst
 * after a pause finds them.
 */
export const PG_MAX_IN_FLIGHT = 4;

/** Integers come back as bigint (SQLite safe integers), string (PostgreSQL int8) or number. */
export const big = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(v as string | number | bigint));
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
export const str = (v: unknown): string => String(v);
