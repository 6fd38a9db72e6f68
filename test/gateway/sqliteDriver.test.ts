/**
 * The SQLite driver's group commit: transactions that arrive together commit in one batch, each
 * in its own savepoint — one that throws is rolled back alone — and a durable transaction resolves
 * only after the WAL's fsync, a non-durable one at its batch's commit.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteDriver } from "../../gateway/ledger/sqliteDriver.js";

describe("gateway SQLite driver: group commit", () => {
  let dir: string;
  let db: SqliteDriver;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "ctk-sqlite-gc-"));
    db = new SqliteDriver(join(dir, "ledger.sqlite"));
    await db.transaction(async (tx) => void (await tx.run("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")));
  });

  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("rolls back only the transaction that throws; the others of its batch commit", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        db.transaction(
          async (tx) => {
            await tx.run("INSERT INTO t (k, v) VALUES ($1, $2)", [i, i]);
            await tx.run("UPDATE t SET v = v + 1000 WHERE k = $1", [i]);
            if (i % 3 === 0) throw new Error(`refused ${i}`);
            return i;
          },
          { durable: i % 2 === 0 },
        ),
      ),
    );
    expect(results.filter((r) => r.status === "rejected").map((r) => ((r as PromiseRejectedResult).reason as Error).message)).to.deep.equal(
      Array.from({ length: 17 }, (_, j) => `refused ${j * 3}`),
    );
    const rows = await db.transaction(async (tx) => tx.all("SELECT k, v FROM t ORDER BY k"));
    const kept = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 3 !== 0);
    expect(rows.map((r) => [Number(r.k), Number(r.v)])).to.deep.equal(kept.map((i) => [i, i + 1000]));
  });

  it("a later transaction of the same batch sees an earlier one's writes", async () => {
    const [, seen] = await Promise.all([
      db.transaction(async (tx) => tx.run("INSERT INTO t (k, v) VALUES (1, 7)")),
      db.transaction(async (tx) => (await tx.one("SELECT v FROM t WHERE k = 1"))?.v),
    ]);
    expect(Number(seen)).to.equal(7);
  });

  it("checkpoints on its own thread: no commit checkpoints, yet the database file takes the WAL's pages", async () => {
    expect((await db.statement("PRAGMA wal_autocheckpoint")).map((r) => Number(r.wal_autocheckpoint))).to.deep.equal([0]);
    const file = join(dir, "ledger.sqlite");
    const before = statSync(file).size;
    const blob = "x".repeat(2_000);
    await db.transaction(async (tx) => tx.run("CREATE TABLE b (k INTEGER PRIMARY KEY, s TEXT NOT NULL)"));
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => db.transaction(async (tx) => tx.run("INSERT INTO b (k, s) VALUES ($1, $2)", [round * 50 + i, blob + i]))));
    }
    const grown = async () => {
      for (let i = 0; i < 40 && statSync(file).size < before + 64 * 1024; i++) await new Promise((r) => setTimeout(r, 50));
      return statSync(file).size - before;
    };
    expect(await grown()).to.be.greaterThan(64 * 1024);
  });

  it("keeps the WAL bounded under a load that never pauses (each checkpoint would race new commits)", async function () {
    this.timeout(60_000);
    await db.transaction(async (tx) => tx.run("CREATE TABLE b (k INTEGER PRIMARY KEY, s TEXT NOT NULL)"));
    const blob = "y".repeat(200);
    let next = 0;
    const end = performance.now() + 3_000;
    // Three seconds of transactions, 64 at a time with no pause.
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < end) {
          const k = next++;
          await db.transaction(async (tx) => tx.run("INSERT INTO b (k, s) VALUES ($1, $2)", [k, blob]), { durable: false });
        }
      }),
    );
    const wal = statSync(join(dir, "ledger.sqlite-wal")).size;
    const file = statSync(join(dir, "ledger.sqlite")).size;
    // Never restarted, the WAL holds every page ever written, each hot page many times: more than
    // the database file, which holds each page once (here about twice as much, with no other load).
    expect(wal, `WAL of ${(wal / 1e6).toFixed(1)} MB beside a database of ${(file / 1e6).toFixed(1)} MB`).to.be.lessThan(file);
  });
});
