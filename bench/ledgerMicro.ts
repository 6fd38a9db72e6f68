/**
 * A ledger-only load (no HTTP): `concurrency` request loops each hold then charge, for `seconds`
 * (after a warm-up second); prints the ledger process's CPU ms per request and, on PostgreSQL,
 * the server's (its backends serving this process, from /proc) and how many requests the grouped
 * statements took on average. A quick check between full `bench:gateway` runs.
 *   tsx bench/ledgerMicro.ts sqlite|sqlite-normal|postgres [seconds]
 * PostgreSQL: CTK_BENCH_PG_URL (else CTK_TEST_PG_URL). MICRO_TREE=<dir>: the ledger of another
 * checkout (a before/after pair in one window); MICRO_CONC: concurrent loops (64); MICRO_THINK_MS:
 * the most a request waits between its hold and its charge (0).
 *
 * Without a wait, 64 loops or fewer run in lockstep: every hold in one statement, then every charge
 * in one, never two statements at once. That is the server's cheapest case, not the gateway's
 * (0.09–0.10 ms per request where `MICRO_THINK_MS` of 5–20 gives 0.35–0.84 on this machine, with
 * groups of 9–18 and statements side by side: see bench/RESULTS.md, session 15).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import type { Ledger as LedgerClass } from "../gateway/ledger/ledger.js";
import type { PostgresDriver as PostgresDriverClass } from "../gateway/ledger/postgresDriver.js";
import type { SqliteDriver as SqliteDriverClass } from "../gateway/ledger/sqliteDriver.js";
import { BENCH_USAGE, addBenchHolders, benchHold } from "./ledgerLoad.js";
import { appBackendsCpuMs } from "./procCpu.js";

const kind = process.argv[2] ?? "sqlite";
const seconds = Number(process.argv[3] ?? 3);
const tree = resolve(process.env.MICRO_TREE ?? ".");
const from = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(tree, path)).href)) as T;
const { Ledger } = await from<{ Ledger: typeof LedgerClass }>("gateway/ledger/ledger.ts");
const { PostgresDriver } = await from<{ PostgresDriver: typeof PostgresDriverClass }>("gateway/ledger/postgresDriver.ts");
const { SqliteDriver } = await from<{ SqliteDriver: typeof SqliteDriverClass }>("gateway/ledger/sqliteDriver.ts");
const PG_URL = process.env.CTK_BENCH_PG_URL ?? process.env.CTK_TEST_PG_URL;
/** This process's connections are named, to find the backends serving them. */
const appName = `ctk-ledger-micro-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "ctk-ledger-micro-"));
const schema = `gw_micro_${process.pid}`;
let driver;
if (kind === "postgres") {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  const u = new URL(PG_URL!);
  u.searchParams.set("application_name", appName);
  driver = new PostgresDriver(u.toString(), 16, schema);
} else driver = new SqliteDriver(join(dir, "l.sqlite"), kind === "sqlite" ? "full" : "normal");
const ledger = new Ledger(driver);
await ledger.init();
const now = Date.now();
// Signed documents of the size the gateway keeps (see gw_authorization_documents).
await addBenchHolders(ledger, 100, now, JSON.stringify({ pad: "x".repeat(1200) }));
/** utime + stime of the backends serving this process, by pid (a connection opened since counts from 0). */
const serverCpu = async (): Promise<Map<number, number>> => (kind === "postgres" ? appBackendsCpuMs(PG_URL!, appName) : new Map());
/** MICRO_THINK_MS: each request waits a random 0 to this many ms between its hold and its charge (the upstream's time). */
const THINK_MS = Number(process.env.MICRO_THINK_MS ?? 0);
const groupStats = () => (ledger as unknown as { groupStats?: () => Record<string, { batches: number; items: number; overlapped?: number }> }).groupStats?.();
let n = 0;
let seq = 0;
let stop = false;
let measuring = false;
let cpu0 = process.cpuUsage();
let t0 = performance.now();
let server0 = new Map<number, number>();
let groups0 = groupStats();
const warmUp = setTimeout(async () => {
  server0 = await serverCpu();
  groups0 = groupStats();
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  n = 0;
  measuring = true;
}, 1_000);
await Promise.all(
  Array.from({ length: Number(process.env.MICRO_CONC ?? 64) }, async (_, i) => {
    for (let k = 0; !stop; k++) {
      const h = (i + k * 7) % 100;
      const p = benchHold(h, process.env.MICRO_IDS === "seq" ? `chatcmpl-${(Date.now() * 1000 + seq++).toString(16)}` : `chatcmpl-${randomUUID()}`, now);
      const hold = await ledger.hold(p);
      if (THINK_MS > 0) await new Promise((r) => setTimeout(r, Math.random() * THINK_MS));
      await ledger.settleRequest(hold.requestId, BENCH_USAGE, Date.now());
      n++;
      if (measuring && performance.now() - t0 > seconds * 1000) stop = true;
    }
  }),
);
clearTimeout(warmUp);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
let server = 0;
for (const [pid, ms1] of await serverCpu()) server += ms1 - (server0.get(pid) ?? 0);
const groups = groupStats();
const mean = (k: string) => {
  const b = (groups?.[k]?.batches ?? 0) - (groups0?.[k]?.batches ?? 0);
  const overlapped = (groups?.[k]?.overlapped ?? 0) - (groups0?.[k]?.overlapped ?? 0);
  return b ? `${((groups![k].items - (groups0?.[k]?.items ?? 0)) / b).toFixed(1)} (${b} statements, ${overlapped} beside a stalled one)` : "-";
};
process.stdout.write(
  `${kind}${process.env.MICRO_TREE ? ` (${process.env.MICRO_TREE})` : ""}: ${n} requests in ${ms.toFixed(0)} ms = ${((n / ms) * 1000).toFixed(0)} req/s, ledger CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms/req` +
    (kind === "postgres" ? `, server CPU ${(server / n).toFixed(3)} ms/req, mean requests per statement: holds ${mean("holds")}, charges ${mean("settles")}` : "") +
    `, load average ${loadavg()
      .slice(0, 1)
      .map((x) => x.toFixed(1))}\n`,
);
await ledger.close();
rmSync(dir, { recursive: true, force: true });
if (kind === "postgres") {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA ${schema} CASCADE`);
  await c.end();
}
