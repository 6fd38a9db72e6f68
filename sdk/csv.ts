/**
 * A small RFC 4180 CSV reader that remembers each record's line number, so every problem in an
 * HR file can be reported as "line 12: …". Quoted fields may hold commas, quotes ("") and newlines.
 */
import { CtkError } from "./ctkError.js";

export interface CsvRecord {
  /** 1-based line on which the record starts. */
  line: number;
  fields: string[];
}

export interface CsvTable {
  header: string[];
  /** Data records (blank lines skipped). */
  records: CsvRecord[];
}

export class CsvSyntaxError extends CtkError {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = "CsvSyntaxError";
  }
}

export function parseCsvRecords(text: string): CsvRecord[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < s.length) {
    const start = line;
    const fields: string[] = [];
    let field = "";
    let quoted = false;
    let wasQuoted = false;
    for (;;) {
      if (i >= s.length) {
        if (quoted) throw new CsvSyntaxError(start, "a quoted field is never closed");
        fields.push(field);
        break;
      }
      const ch = s[i];
      if (quoted) {
        if (ch === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            quoted = false;
            i++;
          }
        } else {
          if (ch === "\n") line++;
          field += ch;
          i++;
        }
        continue;
      }
      if (ch === '"' && field === "" && !wasQuoted) {
        quoted = true;
        wasQuoted = true;
        i++;
      } else if (ch === ",") {
        fields.push(field);
        field = "";
        wasQuoted = false;
        i++;
      } else if (ch === "\r" || ch === "\n") {
        fields.push(field);
        i += ch === "\r" && s[i + 1] === "\n" ? 2 : 1;
        line++;
        break;
      } else {
        if (wasQuoted) throw new CsvSyntaxError(line, "text after a closing quote");
        field += ch;
        i++;
      }
    }
    const blank = fields.length === 1 && fields[0].trim() === "";
    if (!blank) records.push({ line: start, fields });
  }
  return records;
}

/** Parses a CSV whose first record is a header; header names are trimmed and lower-cased. */
export function parseCsv(text: string): CsvTable {
  const records = parseCsvRecords(text);
  if (!records.length) return { header: [], records: [] };
  const [head, ...rest] = records;
  return { header: head.fields.map((h) => h.trim().toLowerCase()), records: rest };
}

/** {@link parseCsv}, with a syntax error as a problem row: its line, and the message without the "line N: ". */
export function readCsvTable(text: string): { table: CsvTable } | { problem: { line: number; message: string } } {
  try {
    return { table: parseCsv(text) };
  } catch (e) {
    if (e instanceof CsvSyntaxError) return { problem: { line: e.line, message: e.message.replace(/^line \d+: /, "") } };
    throw e;
  }
}

/**
 * Checks the header has every required column (in any order, extra columns allowed) and returns
 * the column index of each; undefined plus a message when some are missing.
 */
export function columnIndex<const C extends string>(header: readonly string[], required: readonly C[]): { index: Record<C, number> } | { missing: C[] } {
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length) return { missing };
  return { index: Object.fromEntries(required.map((c) => [c, header.indexOf(c)])) as Record<C, number> };
}
