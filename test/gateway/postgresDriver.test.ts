/**
 * The PostgreSQL driver's connections: kept through a pause longer than node-postgres's default
 * idle timeout (10 s), so that a burst after a pause does not open new ones (each costs its
 * authentication and the planning of every statement it runs the first time: bench/ledgerIdle.ts);
 * past the driver's own idle timeout, four of each pool kept; and idle ones never keep the process
 * alive.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { pgArray } from "../../gateway/ledger/ledger.js";
import { PostgresDriver } from "../../gateway/ledger/postgresDriver.js";
import { PG_URL, available } from "./support/databases.js";

const DRIVER_MODULE = fileURLToPath(new URL("../../gateway/ledger/postgresDriver.ts", import.meta.url));

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
  /** Backends go a moment after their connections close: waits until `app` has `n` (up to 5 s). */
  const settledBackends = async (app: string, n: number): Promise<Set<number>> => {
    const deadline = performance.now() + 5_000;
    for (;;) {
      const found = await backends(app);
      if (found.size === n || performance.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const driverFor = (idleMs?: number) => {
    const app = `ctk-driver-test-${randomBytes(4).toString("hex")}`;
    const url = new URL(PG_URL!);
    url.searchParams.set("application_name", app);
    return { app, db: new PostgresDriver(url.toString(), 16, undefined, idleMs) };
  };
  /** `perPool` statements at once on each pool (the durable one and the other): as many connections each. */
  const burst = (db: PostgresDriver, perPool = 6) =>
    Promise.all(Array.from({ length: 2 * perPool }, (_, i) => db.statement("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)", undefined, { durable: i % 2 === 0 })));

  it("keeps its connections through a pause of 11 s (node-postgres closes them after 10 s by default): the burst after it opens none", async () => {
    const { app, db } = driverFor();
    try {
      const first = new Set((await burst(db)).map((r) => Number(r[0].pid)));
      expect(first.size).to.equal(12);
      await new Promise((r) => setTimeout(r, 11_000));
      const kept = await backends(app);
      expect(kept.size, "connections kept through the pause").to.equal(12);
      for (const pid of kept) expect(first.has(pid)).to.equal(true);
      for (const r of await burst(db)) expect(kept.has(Number(r[0].pid)), "served by a connection kept").to.equal(true);
    } finally {
      await db.close();
    }
    expect((await settledBackends(app, 0)).size, "closed with the driver").to.equal(0);
  });

  it("past its idle timeout, closes the idle connections above four per pool and keeps four of each", async () => {
    const { app, db } = driverFor(500);
    try {
      const first = new Set((await burst(db)).map((r) => Number(r[0].pid)));
      expect(first.size).to.equal(12);
      const kept = await settledBackends(app, 8);
      expect(kept.size, "four of each pool kept").to.equal(8);
      // Four at once on each pool: served by the connections kept, none opened.
      for (const r of await burst(db, 4)) expect(kept.has(Number(r[0].pid)), "served by a connection kept").to.equal(true);
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await backends(app)).size, "the four of each pool stay past the timeout").to.equal(8);
    } finally {
      await db.close();
    }
  });

  it("does not keep the process alive with idle connections (a ledger left open)", async () => {
    // A child process that uses the driver and never closes it: it exits as soon as its work is done.
    const script = `import { PostgresDriver } from ${JSON.stringify(DRIVER_MODULE)};
      const db = new PostgresDriver(process.env.URL, 16);
      await Promise.all([1, 2, 3].map(() => db.statement("SELECT 1")));
      console.log("done");`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, URL: PG_URL }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let doneAt: number | undefined;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (doneAt === undefined && out.includes("done")) doneAt = performance.now();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    clearTimeout(timer);
    expect(code, out).to.equal(0);
    expect(doneAt, out).to.not.equal(undefined);
    expect(performance.now() - doneAt!, "from its work done to its exit").to.be.below(5_000);
  });
});

describe("gateway PostgreSQL array parameters (pgArray)", () => {
  it("quotes every string, escaping quotes and backslashes only", () => {
    expect(pgArray(['a"b', "c\\d", "e", 1, 2n])).to.equal('{"a\\"b","c\\\\d","e",1,2}');
    expect(pgArray([])).to.equal("{}");
  });

  it("reach PostgreSQL as they were: quotes and backslashes escaped, commas, braces, spaces and NULL as text, numbers and bigints", async function () {
    if (!available("postgres")) return this.skip();
    const texts = ['say "hi"', "back\\slash\\", "a,b", "{x}", " padded ", "NULL", "", "ünï"];
    const db = new PostgresDriver(PG_URL!, 1);
    try {
      const [row] = await db.statement("SELECT $1::text[] AS t, $2::bigint[] AS b", [pgArray(texts), pgArray([1, 2n ** 62n, -3n])]);
      expect(row.t).to.deep.equal(texts);
      expect(row.b).to.deep.equal(["1", (2n ** 62n).toString(), "-3"]);
    } finally {
      await db.close();
    }
  });
});
