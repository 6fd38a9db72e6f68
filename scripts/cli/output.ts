/**
 * What `ctk` prints: human lines on stdout, or one JSON document with `--json`; notes and progress
 * on stderr. Errors a user can fix are {@link UserError}s: one line, no stack.
 */
import { jsonValue } from "../../sdk/format.js";
import { CtkError } from "../../sdk/ctkError.js";

export class UserError extends CtkError {
  constructor(
    message: string,
    /** Extra lines printed after the message (e.g. every problem in a CSV file). */
    readonly details: readonly string[] = [],
    /** The --json document to print on stdout, if any. */
    readonly json?: unknown,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** The one --json form (sdk/format.ts jsonValue): exact numbers as numbers, timestamps as ISO 8601 UTC. */
const toJson = (value: unknown): string => JSON.stringify(value, jsonValue, 2);

export function printJson(value: unknown): void {
  process.stdout.write(`${toJson(value)}\n`);
}

export function printLines(lines: string | readonly string[]): void {
  const all = typeof lines === "string" ? [lines] : lines;
  if (all.length) process.stdout.write(`${all.join("\n")}\n`);
}

/** Prints `json` with --json, else the human lines. */
export function output(json: boolean, human: string | readonly string[], doc: unknown): void {
  if (json) printJson(doc);
  else printLines(human);
}

/** A note for the user that is not the command's result (stderr, so stdout stays parseable). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Left-aligned text columns, right-aligned numbers (cells matching /^[~+\d.,()-]+$/). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => /^[~+\d.,()-]+$/.test(r[i] ?? "")));
  const fmt = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)];
}

export const plural = (n: number, word: string, many = `${word}s`): string => `${n.toLocaleString("en-US")} ${n === 1 ? word : many}`;
