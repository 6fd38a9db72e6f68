/**
 * CPU time of processes from /proc (Linux): a benchmark's CPU per unit of work, by process,
 * PostgreSQL's backends included (bench/gateway.ts, bench/ledgerMicro.ts, bench/ledgerIdle.ts).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import pg from "pg";

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in ms (from /proc/<pid>/stat); 0 when it is gone. */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * The CPU ms so far of each PostgreSQL backend serving connections opened with this application
 * name (one process's, when it names its connections), by pid: a connection opened since counts from 0.
 */
export async function appBackendsCpuMs(url: string, applicationName: string): Promise<Map<number, number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const pids = (await c.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [applicationName])).rows.map((r) => Number(r.pid));
    return new Map(pids.map((pid) => [pid, cpuMs(pid)]));
  } finally {
    await c.end();
  }
}

/** The PostgreSQL backends serving one database (their process titles name it). */
export function pgBackends(database: string | undefined): number[] {
  if (!database) return [];
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.startsWith("postgres: ") && cmd.includes(` ${database} `)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** A process's parent, and its CPU with that of its children that have exited (fields 4, 14–17 of /proc/<pid>/stat), in ms. */
function statOf(pid: number): { ppid: number; own: number; reaped: number } | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    const ms = (i: number) => (Number(rest[i]) * 1000) / CLK_TCK;
    return { ppid: Number(rest[1]), own: ms(11) + ms(12), reaped: ms(13) + ms(14) };
  } catch {
    return undefined;
  }
}

/**
 * CPU time of the whole PostgreSQL server serving `database`, in ms: its postmaster (the parent of
 * that database's backends), every process it runs (backends, WAL writer, checkpointer, autovacuum),
 * and those of them that have exited since it started (a backend that disconnected, a pool's idle
 * connection closed). A difference of two readings is the server's CPU in between, whoever did the work.
 */
export function pgServerCpuMs(database: string | undefined): number {
  const backend = pgBackends(database)[0];
  const postmaster = backend === undefined ? undefined : statOf(backend)?.ppid;
  if (postmaster === undefined) return 0;
  const root = statOf(postmaster);
  if (!root) return 0;
  let total = root.own + root.reaped;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = statOf(Number(d));
    if (st?.ppid === postmaster) total += st.own;
  }
  return total;
}
