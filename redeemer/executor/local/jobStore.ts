/**
 * Job records on disk, one JSON file per job. Every write is atomic (write a temporary file,
 * fsync, rename), so a crash leaves the previous or the next version, never half of one; the
 * first write is an exclusive create (temporary file + link), so two launches of one
 * redemption, even from two processes, create it once.
 */
import { mkdir, readFile, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { createFileExclusive, isTempFile, removeTempFiles, writeFileAtomic } from "../../../sdk/atomicFile.js";
import { type JobRecord, jobRecordSchema } from "./jobRecord.js";

export interface UnreadableRecord {
  name: string;
  file: string;
  error: string;
}

/** A record as its file holds it. */
const textOf = (record: JobRecord): string => `${JSON.stringify(record, null, 2)}\n`;

export class JobStore {
  constructor(readonly dir: string) {}

  fileFor(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Temporary files of writes a crash interrupted.
    await removeTempFiles(this.dir);
  }

  /** Writes the record only if none exists; false when one already does. */
  async create(record: JobRecord): Promise<boolean> {
    return createFileExclusive(this.fileFor(record.name), textOf(record));
  }

  /** Replaces the record atomically. */
  async write(record: JobRecord): Promise<void> {
    await writeFileAtomic(this.fileFor(record.name), textOf(record));
  }

  async remove(name: string): Promise<void> {
    await unlink(this.fileFor(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }

  async readAll(): Promise<{ records: JobRecord[]; unreadable: UnreadableRecord[] }> {
    const records: JobRecord[] = [];
    const unreadable: UnreadableRecord[] = [];
    for (const f of (await readdir(this.dir)).sort()) {
      if (!f.endsWith(".json") || isTempFile(f)) continue;
      const file = join(this.dir, f);
      const name = f.slice(0, -".json".length);
      try {
        const parsed = jobRecordSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
        if (parsed.success && parsed.data.name === name) records.push(parsed.data);
        else
          unreadable.push({
            name,
            file,
            error: parsed.success ? `holds job ${parsed.data.name}` : (parsed.error.issues[0]?.message ?? "invalid"),
          });
      } catch (err) {
        unreadable.push({ name, file, error: (err as Error).message });
      }
    }
    return { records, unreadable };
  }
}
