/**
 * The PostgreSQL ledger after an idle gap: bursts of `MICRO_CONC` (16) requests at once (each a
 * hold, then its charge), `gap` seconds apart; prints each burst's slowest and median request
 * (hold to charge, ms), the connections the ledger opened for it, and the server's CPU for it
 * (every backend of this process, from /proc). A gap longer than the pool's idle timeout closes
 * the idle connections above those it keeps (node-postgres's default: 10 s, none kept): the next
 * burst then opens new ones, and each new connection pays for its authentication and for
 * planning every statement it runs the first time.
 *   tsx bench/ledgerIdle.ts [gap seconds = 12] [bursts = 4]
 * CTK_BENCH_PG_URL (else CTK_TEST_PG_URL); MICRO_TREE=<dir>: the ledger of another checkout.
 */
import { randomUUID } from "node:crypto";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import type { Ledger as LedgerClass } from "../gateway/ledger/ledger.js";
import type { PostgresDriver as PostgresDriverClass } from "../gateway/ledger/postgresDriver.js";
import { BENCH_USAGE, addBenchHolders, benchHold } from "./ledgerLoad.js";
import { appBackendsCpuMs } from "./procCpu.js";

const gapS = Number(process.argv[2] ?? 12);
const bursts = Number(process.argv[3] ?? 4);
const conc = Number(process.env.MICRO_CONC ?? 16);
const tree = resolve(process.env.MICRO_TREE ?? ".");
const from = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(tree, path)).href)) as T;
const { Ledger } = await from<{ Ledger: typeof LedgerClass }>("gateway/ledger/ledger.ts");
const { PostgresDriver } = await from<{ PostgresDriver: typeof PostgresDriverClass }>("gateway/ledger/postgresDriver.ts");
const PG_URL = process.env.CTK_BENCH_PG_URL ?? process.env.CTK_TEST_PG_URL;
if (!PG_URL) {
  process.stderr.write("set CTK_BENCH_PG_URL (or CTK_TEST_PG_URL) to a PostgreSQL database\n");
  process.exit(2);
}
const appName = `ctk-ledger-idle-${process.pid}`;
const schema = `gw_idle_${process.pid}`;
const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
};
await admin((c) => c.query(`CREATE SCHEMA ${schema}`));
const u = new URL(PG_URL);
u.searchParams.set("application_name", appName);
const ledger = new Ledger(new PostgresDriver(u.toString(), 16, schema));
await ledger.init();
const now = Date.now();
await addBenchHolders(ledger, conc, now);
/** This process's backends: pid → its CPU ms so far. */
const backends = () => appBackendsCpuMs(PG_URL, appName);
const request = async (h: number): Promise<number> => {
  const start = performance.now();
  const p = benchHold(h, `chatcmpl-${randomUUID()}`, now);
  const hold = await ledger.hold(p);
  await ledger.settleRequest(hold.requestId, BENCH_USAGE, Date.now());
  return performance.now() - start;
};
try {
  process.stdout.write(`ledger of ${tree}: ${bursts} bursts of ${conc} requests, ${gapS} s apart\n`);
  for (let b = 0; b < bursts; b++) {
    if (b > 0) await new Promise((r) => setTimeout(r, gapS * 1000));
    const before = await backends();
    const ms = (await Promise.all(Array.from({ length: conc }, (_, h) => request(h)))).sort((x, y) => x - y);
    const after = await backends();
    const opened = [...after.keys()].filter((pid) => !before.has(pid)).length;
    let server = 0;
    for (const [pid, cpu] of after) server += cpu - (before.get(pid) ?? 0);
    process.stdout.write(
      `burst ${b + 1}: slowest ${ms[ms.length - 1].toFixed(1)} ms, median ${ms[Math.floor(ms.length / 2)].toFixed(1)} ms, ${opened} connections opened, server CPU ${server} ms\n`,
    );
  }
} finally {
  await ledger.close();
  await admin((c) => c.query(`DROP SCHEMA ${schema} CASCADE`));
}
