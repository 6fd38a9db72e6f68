import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";

/** Absolute path of an executable: `name` itself if it has a "/", else the first match on PATH. */
export async function findExecutable(name: string, path: string = process.env.PATH ?? ""): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? isAbsolute(name)
      ? [name]
      : []
    : path
        .split(delimiter)
        .filter((d) => isAbsolute(d))
        .map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
