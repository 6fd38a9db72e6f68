/**
 * The two ledger databases every gateway test runs against: SQLite in a temporary file, and
 * PostgreSQL from CTK_TEST_PG_URL (`.ci/run` installs, starts and creates it; a developer:
 * see gateway/README.md). Each PostgreSQL test database is a fresh schema, dropped afterwards.
 * Under CI=true a missing CTK_TEST_PG_URL fails the suite; elsewhere the PostgreSQL cases are
 * reported pending with how to enable them.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Ledger, type LedgerOptions } from "../../../gateway/ledger/ledger.js";
import { PostgresDriver } from "../../../gateway/ledger/postgresDriver.js";
import { SqliteDriver } from "../../../gateway/ledger/sqliteDriver.js";

export const PG_URL = process.env.CTK_TEST_PG_URL;

export interface TestDatabase {
  kind: "sqlite" | "postgres";
  /** A new ledger (a new connection) on this database: call twice for two replicas. */
  open(options?: LedgerOptions): Promise<Ledger>;
  /** The gateway config's `database` section for this database. */
  config(): { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };
  drop(): Promise<void>;
}

export class MissingPostgresError extends Error {
  constructor() {
    super("CTK_TEST_PG_URL is not set: under CI the PostgreSQL ledger tests must run (.ci/run sets it)");
  }
}

export const DATABASE_KINDS = ["sqlite", "postgres"] as const;

/** Whether a kind can run here; throws under CI when PostgreSQL is missing. */
export function available(kind: (typeof DATABASE_KINDS)[number]): boolean {
  if (kind === "sqlite" || PG_URL) return true;
  if (process.env.CI === "true") throw new MissingPostgresError();
  return false;
}

export async function createTestDatabase(kind: (typeof DATABASE_KINDS)[number]): Promise<TestDatabase> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "ctk-gw-ledger-"));
    const file = join(dir, "ledger.sqlite");
    const opened: Ledger[] = [];
    return {
      kind,
      async open(options?: LedgerOptions) {
        const l = new Ledger(new SqliteDriver(file), options);
        await l.init();
        opened.push(l);
        return l;
      },
      config: () => ({ kind: "sqlite", file }),
      async drop() {
        for (const l of opened) await l.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!PG_URL) throw new MissingPostgresError();
  const schema = `gw_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const opened: Ledger[] = [];
  return {
    kind,
    async open(options?: LedgerOptions) {
      const l = new Ledger(new PostgresDriver(PG_URL, 16, schema), options);
      await l.init();
      opened.push(l);
      return l;
    },
    config: () => ({ kind: "postgres", url: url.toString() }),
    async drop() {
      for (const l of opened) await l.close().catch(() => undefined);
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

/**
 * PostgreSQL: `holder`'s row locked from a connection of its own (as a transaction in progress
 * holds it) until `release`; `pid` is that connection's backend (what a waiting statement is
 * blocked by, in `pg_blocking_pids`).
 */
export async function lockHolderRow(db: TestDatabase, holder: string): Promise<{ pid: number; release: () => Promise<void> }> {
  const other = await db.open();
  let release!: () => void;
  let locked!: (pid: number) => void;
  const isLocked = new Promise<number>((r) => {
    locked = r;
  });
  const holding = other.db.transaction(async (tx) => {
    await tx.one("SELECT holder FROM gw_holders WHERE holder = $1 FOR UPDATE", [holder]);
    locked(Number((await tx.one("SELECT pg_backend_pid() AS pid"))?.pid));
    await new Promise<void>((r) => {
      release = r;
    });
  });
  const pid = await isLocked;
  return {
    pid,
    release: async () => {
      release();
      await holding;
    },
  };
}
