/**
 * PostgreSQL through `pg`: one pooled client per transaction, READ COMMITTED with row locks
 * (`SELECT … FOR UPDATE` on the holder's and the authorization's rows): every hold, charge and
 * release of one holder runs one after the other across all replicas, so N replicas can never
 * spend N × a budget. A serialization failure or deadlock is retried.
 *
 * A transaction that need not be durable (`durable: false`: holds) commits with
 * `synchronous_commit = off`: visible to every replica at once, flushed by the WAL writer or by
 * the next durable commit (the WAL is sequential), without waiting for the disk.
 */
import pg from "pg";
import { PG_MAX_IN_FLIGHT, type Row, type SqlDriver, type SqlTx, type SqlValue } from "./sql.js";

const RETRYABLE = new Set(["40001", "40P01"]);

/**
 * Statements with parameters run as named prepared statements (parsed and planned once per
 * connection, not per request: the hold's and the charge's CTEs are the hot path).
 */
const NAMES = new Map<string, string>();
const named = (text: string, params: readonly SqlValue[] | undefined): string | pg.QueryConfig => {
  if (!params?.length) return text;
  let name = NAMES.get(text);
  if (!name) {
    name = `ctk_${NAMES.size}`;
    NAMES.set(text, name);
  }
  return { name, text, values: params.map((v) => (typeof v === "bigint" ? v.toString() : v)) };
};

/**
 * `url` with more startup options (`-c name=value`) after those it has: node-postgres takes the
 * URL's `options` over the pool's, so they go in the URL.
 */
function withOptions(url: string, ...more: (string | undefined)[]): string {
  const u = new URL(url);
  u.searchParams.set("options", [u.searchParams.get("options"), ...more].filter(Boolean).join(" "));
  return u.toString();
}

/**
 * Connections of each pool never closed for being idle: as many as the ledger runs grouped
 * statements of one kind at once. Two pools: up to 8 connections per replica stay open.
 */
const IDLE_KEPT = PG_MAX_IN_FLIGHT;

export class PostgresDriver implements SqlDriver {
  readonly kind = "postgres" as const;
  readonly forUpdate = " FOR UPDATE";
  private readonly pool: pg.Pool;
  /**
   * Connections whose commits do not wait for the disk (`synchronous_commit = off`), for single
   * statements that need not be durable (holds): one round trip, no BEGIN and SET LOCAL around them.
   */
  private readonly asyncPool: pg.Pool;

  /**
   * `schema`: a search_path for every connection (tests use one schema each). `idleMs`: how long a
   * connection above the IDLE_KEPT of its pool stays open unused.
   */
  constructor(url: string, poolSize = 16, schema?: string, idleMs = 60_000) {
    const schemaOption = schema ? `-c search_path=${schema}` : undefined;
    // A server that does not accept the connection (down, a network cut that drops packets) fails
    // the statement after this long instead of holding the request forever; nothing was sent. (It
    // also bounds the wait for a free connection when all `poolSize` are busy: 503 then, too.)
    // TCP keep-alive probes a connection idle for 10 s (the system's probe interval and count then
    // decide when one the network dropped silently is found).
    // Idle connections are kept a minute (node-postgres's default is 10 s), and the last
    // IDLE_KEPT of each pool for good: a new connection costs its authentication and the planning
    // of every statement it runs the first time. After a pause of 12 s, the slowest request of a
    // burst of 16 took 61–64 ms where it took 8–12 with the connections kept (bench/ledgerIdle.ts;
    // bench/RESULTS.md, session 16). Idle connections do not keep the process alive (a ledger left
    // open must not hold up its exit).
    const common = {
      max: poolSize,
      min: Math.min(IDLE_KEPT, poolSize),
      idleTimeoutMillis: idleMs,
      allowExitOnIdle: true,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    };
    this.pool = new pg.Pool({ connectionString: url, ...common, ...(schemaOption && { options: schemaOption }) });
    this.asyncPool = new pg.Pool({ connectionString: withOptions(url, schemaOption, "-c synchronous_commit=off"), ...common });
    for (const pool of [this.pool, this.asyncPool]) {
      // An idle client's error (the server restarted) must not crash the gateway; nor a checked-out
      // one's, whose connection drops mid-transaction (the query in flight fails too): each client
      // gets a listener of its own when the pool opens it.
      pool.on("error", () => undefined);
      pool.on("connect", (client) => client.on("error", () => undefined));
    }
  }

  async transaction<T>(fn: (tx: SqlTx) => Promise<T>, options: { durable?: boolean } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      const q = (sql: string, params?: readonly SqlValue[]) => client.query(named(sql, params));
      const tx: SqlTx = {
        all: async (sql, params) => (await q(sql, params)).rows as Row[],
        one: async (sql, params) => (await q(sql, params)).rows[0] as Row | undefined,
        run: async (sql, params) => (await q(sql, params)).rowCount ?? 0,
      };
      try {
        // One round trip (the simple protocol takes several statements without parameters).
        await client.query(options.durable === false ? "BEGIN; SET LOCAL synchronous_commit TO off" : "BEGIN");
        const result = await fn(tx);
        await client.query("COMMIT");
        client.release();
        return result;
      } catch (err) {
        // A connection that cannot roll back is broken: the pool drops it instead of lending it again.
        const broken = await client.query("ROLLBACK").then(
          () => false,
          () => true,
        );
        client.release(broken ? (err as Error) : undefined);
        if (attempt < 5 && RETRYABLE.has((err as { code?: string }).code ?? "")) continue;
        throw err;
      }
    }
  }

  async statement(sql: string, params?: readonly SqlValue[], options: { durable?: boolean } = {}): Promise<Row[]> {
    const pool = options.durable === false ? this.asyncPool : this.pool;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await pool.query(named(sql, params))).rows as Row[];
      } catch (err) {
        if (attempt < 5 && RETRYABLE.has((err as { code?: string }).code ?? "")) continue;
        throw err;
      }
    }
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async close(): Promise<void> {
    await this.asyncPool.end();
    await this.pool.end();
  }
}
