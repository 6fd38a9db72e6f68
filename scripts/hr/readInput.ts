/** Reads an input file given on the command line, failing with one line when it cannot. */
import { readFileSync } from "node:fs";
import { UserError } from "../cli/output.js";

export function readInputFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: ${code === "ENOENT" ? "not found" : code === "EISDIR" ? "is a directory" : (code ?? "cannot read")}`);
  }
}

/** "file: N problems, nothing sent" plus one "  line L: …" per problem. */
export function problemsError(file: string, problems: readonly { line: number; message: string }[], what: string): UserError {
  const n = problems.length;
  return new UserError(
    `${file}: ${n} problem${n === 1 ? "" : "s"}, ${what}`,
    problems.map((p) => `  line ${p.line}: ${p.message}`),
    { ok: false, file, problems },
  );
}
