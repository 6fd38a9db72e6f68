/**
 * bench/RESULTS.md: each benchmark rewrites only its own "## …" sections, appending them the first
 * time, and leaves the rest of the file (the other benchmarks' sections) as it was.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const RESULTS_FILE = fileURLToPath(new URL("./RESULTS.md", import.meta.url));

/** `text` with the section that starts at `heading` (up to the next "## ") replaced by `section`, or `section` appended. */
export function replaceSection(text: string, heading: string, section: string): string {
  const start = text.indexOf(heading);
  if (start === -1) return `${text.trimEnd()}\n\n${section}`;
  const next = text.indexOf("\n## ", start + heading.length);
  return text.slice(0, start) + section + (next === -1 ? "" : `\n${text.slice(next + 1)}`);
}

/** Writes sections (heading → whole section text, heading line included) into the results file. */
export function writeResultSections(sections: Readonly<Record<string, string>>, file = RESULTS_FILE): void {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "# Benchmark results\n";
  }
  for (const [heading, section] of Object.entries(sections)) text = replaceSection(text, heading, section);
  writeFileSync(file, text);
}
