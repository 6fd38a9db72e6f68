/**
 * bench/RESULTS.md: each benchmark rewrites only its generated blocks, the text between
 * `<!-- generated: NAME -->` and `<!-- end generated: NAME -->` inside a "## …" section. Everything
 * else (the hand-written analysis around the numbers, the other benchmarks' sections) is left byte
 * for byte as it was. A block not there yet is appended at the end of its section, and a section not
 * there yet at the end of the file.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const RESULTS_FILE = fileURLToPath(new URL("./RESULTS.md", import.meta.url));

const startMarker = (name: string) => `<!-- generated: ${name} -->`;
const endMarker = (name: string) => `<!-- end generated: ${name} -->`;

/** Where the section titled `heading` (a whole "## …" line, or its start) begins and ends in `text`. */
function sectionBounds(text: string, heading: string): { start: number; end: number } | undefined {
  let start = text.startsWith(heading) ? 0 : -1;
  if (start === -1) {
    const at = text.indexOf(`\n${heading}`);
    if (at === -1) return undefined;
    start = at + 1;
  }
  const next = text.indexOf("\n## ", start + heading.length);
  return { start, end: next === -1 ? text.length : next };
}

/**
 * `text` with the generated block `name` of the section `heading` set to `content`: only the text
 * between the block's markers changes. Without the block, it is appended at the end of the section;
 * without the section, the section (heading and block) is appended at the end of `text`.
 */
export function replaceGenerated(text: string, heading: string, name: string, content: string): string {
  if (name.includes("--")) throw new Error(`generated block name "${name}" cannot contain "--"`);
  // Blank lines around the content: a marker right after a table row would not end the table in every renderer.
  const block = `${startMarker(name)}\n\n${content.trim()}\n\n${endMarker(name)}`;
  const bounds = sectionBounds(text, heading);
  if (!bounds) return `${text.trimEnd()}\n\n${heading}\n\n${block}\n`;
  const open = text.indexOf(startMarker(name), bounds.start);
  if (open !== -1 && open < bounds.end) {
    const close = text.indexOf(endMarker(name), open);
    if (close === -1 || close > bounds.end) throw new Error(`${heading}: "${startMarker(name)}" has no "${endMarker(name)}" after it in its section`);
    return text.slice(0, open) + block + text.slice(close + endMarker(name).length);
  }
  return `${text.slice(0, bounds.end).trimEnd()}\n\n${block}\n${text.slice(bounds.end)}`;
}

/** Writes one generated block (see `replaceGenerated`) into the results file. */
export function writeGenerated(heading: string, name: string, content: string, file = RESULTS_FILE): void {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "# Benchmark results\n";
  }
  writeFileSync(file, replaceGenerated(text, heading, name, content));
}
