/**
 * Writes a file so that a crash leaves either the old one or the new one, never a torn one:
 * a temporary file beside it, fsync, rename. The receipts and the checkpoint are written this way.
 */
import { open, rename } from "node:fs/promises";

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
