/**
 * One executor per data directory: recovery finishes every "running" job it finds as
 * Interrupted, which would be wrong if another live executor were running them.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { DataDirInUse } from "./errors.js";
import { isSameProcess, readProcStat } from "./processControl.js";

export interface DataDirLock {
  release(): Promise<void>;
}

/** @throws DataDirInUse when a live process holds the lock. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const file = join(dataDir, "executor.lock");
  const owner = { pid: process.pid, startTime: readProcStat(process.pid)?.startTime, token: Math.random().toString(36).slice(2) };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      let holder: { pid?: unknown; startTime?: unknown } = {};
      try {
        holder = JSON.parse(await readFile(file, "utf8"));
      } catch {
        // unreadable: a crash while writing it; stale
      }
      if (typeof holder.pid === "number") {
        const alive = holder.pid === process.pid || isSameProcess(holder.pid, typeof holder.startTime === "string" ? holder.startTime : undefined) !== false;
        if (alive) throw new DataDirInUse(dataDir, holder.pid);
      }
      await unlink(file).catch(() => {});
    }
  }
  return {
    async release() {
      try {
        if (JSON.parse(await readFile(file, "utf8")).token === owner.token) await unlink(file);
      } catch {
        // already gone
      }
    },
  };
}
