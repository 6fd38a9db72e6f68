/**
 * The PostgreSQL driver's connections: kept through a pause longer than node-postgres's default
 * idle timeout (10 s), so that a burst after a pause does not open new ones (each costs its
 * authentication and the planning of every statement it runs the first time: ~50 ms for a burst,
 * bench/ledgerIdle.ts); and idle ones do not keep the process alive. (The four of each pool it
 * keeps for good, past its one-minute idle timeout, are measured by bench/ledgerIdle.ts with 70 s
 * pauses, not waited for here.)
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { PostgresDriver } from "../../gateway/ledger/postgresDriver.js";
import { PG_URL, available } from "./support/databases.js";

describe("gateway PostgreSQL driver: connections", function () {
  this.timeout(60_000);
  before(function () {
    if (!available("postgres")) this.skip();
  });

  /** The backends of connections opened with this application name. */
  const backends = async (app: string): Promise<Set<number>> => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return new Set((await c.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])).rows.map((r) => Number(r.pid)));
    } finally {
      await c.end();
    }
  };

  it("keeps its connections through a pause of 11 s (node-postgres closes them after 10 s by default): the burst after it opens none", async () => {
    const app = `ctk-driver-test-${randomBytes(4).toString("hex")}`;
    const url = new URL(PG_URL!);
    url.searchParams.set("application_name", app);
    const db = new PostgresDriver(url.toString(), 16);
    try {
      // A burst on each pool (durable statements on one, the others on the other): six connections each.
      const burst = () => Promise.all(Array.from({ length: 12 }, (_, i) => db.statement("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)", undefined, { durable: i % 2 === 0 })));
      const first = new Set((await burst()).map((r) => Number(r[0].pid)));
      expect(first.size).to.equal(12);
      await new Promise((r) => setTimeout(r, 11_000));
      const kept = await backends(app);
      expect(kept.size, "connections kept through the pause").to.equal(12);
      for (const pid of kept) expect(first.has(pid)).to.equal(true);
      // The same burst again: served by the connections kept, none opened.
      for (const r of await burst()) expect(kept.has(Number(r[0].pid)), "served by a connection kept").to.equal(true);
    } finally {
      await db.close();
    }
    expect((await backends(app)).size, "closed with the driver").to.equal(0);
  });

  it("does not keep the process alive with idle connections (a ledger left open)", () => {
    // A child process that uses the driver and never closes it exits by itself.
    const script = `import { PostgresDriver } from "./gateway/ledger/postgresDriver.ts";
      const db = new PostgresDriver(process.env.URL, 16);
      await Promise.all([1, 2, 3].map(() => db.statement("SELECT 1")));
      console.log("done");`;
    const started = performance.now();
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, URL: PG_URL }, timeout: 20_000 }).toString();
    expect(out.trim()).to.equal("done");
    expect(performance.now() - started, "exited without waiting for an idle timeout").to.be.below(10_000);
  });
});
