/**
 * CPU time of processes from /proc (Linux): a benchmark's CPU per unit of work, by process,
 * PostgreSQL's backends included (bench/gateway.ts, bench/ledgerMicro.ts).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

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
