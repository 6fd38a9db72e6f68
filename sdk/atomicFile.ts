/**
 * Writing a file so that a crash leaves the old content or the new one, never a torn file: the
 * content goes to a temporary file beside it (same directory, so the rename cannot cross file
 * systems), which is fsynced, renamed over the file (or linked, for an exclusive create), and the
 * directory is fsynced so the rename itself survives a power loss. A crash between the two leaves
 * a temporary file whose name holds {@link TMP_MARK}: readers pass over it ({@link isTempFile}) and
 * {@link removeTempFiles} deletes such leftovers at start-up.
 *
 * Async and sync variants of each. Node's modules only and no TypeScript-only syntax: the local
 * executor's supervisor, which Node runs with its types stripped, imports this file; the web app
 * never does.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { link, open, readdir, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";

/** What every temporary file's name holds: `<file>.tmp-<pid>-<random>`. */
export const TMP_MARK = ".tmp-";

/** Whether a directory entry is a temporary file of an atomic write (finished or interrupted). */
export const isTempFile = (name: string): boolean => name.includes(TMP_MARK);

const tempPathOf = (file: string): string => `${file}${TMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;

const ignoreMissing = (err: unknown): void => {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
};

/** `data` in a fresh temporary file beside `file`, fsynced; returns its path. */
async function writeTemp(file: string, data: string | Uint8Array): Promise<string> {
  const tmp = tempPathOf(file);
  const handle = await open(tmp, "wx");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}

function writeTempSync(file: string, data: string | Uint8Array): string {
  const tmp = tempPathOf(file);
  const fd = openSync(tmp, "wx");
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces (or creates) `file` with `data` atomically and durably. The directory must exist. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(file, data);
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(ignoreMissing);
    throw err;
  }
  await syncDir(dirname(file));
}

/** {@link writeFileAtomic}, blocking. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = writeTempSync(file, data);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkQuietSync(tmp);
    throw err;
  }
  syncDirSync(dirname(file));
}

/**
 * Creates `file` with its whole content at once, only if it does not exist yet: false when it does
 * (even when another process creates it at the same moment: the link is the one atomic test).
 */
export async function createFileExclusive(file: string, data: string | Uint8Array): Promise<boolean> {
  const tmp = await writeTemp(file, data);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(tmp).catch(ignoreMissing);
  }
  await syncDir(dirname(file));
  return true;
}

/** {@link createFileExclusive}, blocking. */
export function createFileExclusiveSync(file: string, data: string | Uint8Array): boolean {
  const tmp = writeTempSync(file, data);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkQuietSync(tmp);
  }
  syncDirSync(dirname(file));
  return true;
}

function unlinkQuietSync(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    ignoreMissing(err);
  }
}

/** Deletes the temporary files interrupted writes left in `dir` (none while another writer runs there); returns how many. */
export async function removeTempFiles(dir: string): Promise<number> {
  const leftovers = (await readdir(dir)).filter(isTempFile);
  for (const name of leftovers) await unlink(join(dir, name)).catch(ignoreMissing);
  return leftovers.length;
}

/** {@link removeTempFiles}, blocking. */
export function removeTempFilesSync(dir: string): number {
  const leftovers = readdirSync(dir).filter(isTempFile);
  for (const name of leftovers) unlinkQuietSync(join(dir, name));
  return leftovers.length;
}
