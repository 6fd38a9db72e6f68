/**
 * The frame every payroll file shares (employees.csv, grants.csv, credits.csv): CSV syntax and the
 * header as problems on their line; then, per row, the field count, `employee_id` and `wallet`, the
 * file's own columns (parsed by the caller), a row repeated, a wallet under two employees and an
 * employee with two wallets. Chain state is not consulted.
 */
import type { Address } from "viem";
import { type CsvTable, columnIndex, readCsvTable } from "./csv.js";
import { InputFormatError } from "./format.js";
import { type RowProblem, isParsedWallet, parseWallet } from "./holders.js";

/** The table and its column indexes, or the problem that stops reading the file (syntax, header). */
export function openCsvTable<const C extends string>(text: string, columns: readonly C[]): { table: CsvTable; index: Record<C, number> } | { problems: RowProblem[] } {
  const read = readCsvTable(text);
  if ("problem" in read) return { problems: [read.problem] };
  const { table } = read;
  const cols = columnIndex(table.header, columns);
  if ("missing" in cols) return { problems: [{ line: 1, message: `header must have columns ${columns.join(",")} (missing ${cols.missing.join(", ")})` }] };
  return { table, index: cols.index };
}

export interface PayrollRow {
  line: number;
  employeeId: string;
  wallet: Address;
}

/** What a file's own columns give a row's parser. */
export interface RowFields<C extends string> {
  /** A field, trimmed ("" when the row is short). */
  field(column: C): string;
  /** Runs a field parser; an {@link InputFormatError} becomes a problem of the row and `undefined`. */
  attempt<T>(parse: () => T): T | undefined;
  /** Adds a problem to the row. */
  problem(message: string): void;
}

const byLine = (a: RowProblem, b: RowProblem) => a.line - b.line;

/**
 * Parses a payroll file. `parseRow` reads the file's own columns and returns them, or `undefined`
 * when one is wrong (after naming the problem); `sameRow` keys those fields so that a row repeated
 * (same employee, wallet and key) is named as a duplicate of the first.
 */
export function parsePayrollCsv<const C extends string, F extends object>(
  text: string,
  columns: readonly C[],
  parseRow: (row: RowFields<C>) => F | undefined,
  sameRow: (fields: F) => string,
): { rows: (PayrollRow & F)[]; problems: RowProblem[] } {
  const rows: (PayrollRow & F)[] = [];
  const opened = openCsvTable(text, columns);
  if ("problems" in opened) return { rows, problems: opened.problems };
  const { table, index } = opened;
  if (!table.records.length) return { rows, problems: [{ line: 1, message: "the file has no rows" }] };

  const problems: RowProblem[] = [];
  const seenRow = new Map<string, number>();
  const walletOwner = new Map<string, { employeeId: string; line: number }>();
  const employeeWallet = new Map<string, { wallet: Address; line: number }>();
  for (const r of table.records) {
    const rowProblems: string[] = [];
    const field = (c: C) => (r.fields[index[c]] ?? "").trim();
    if (r.fields.length !== table.header.length) rowProblems.push(`has ${r.fields.length} fields, the header has ${table.header.length}`);
    const employeeId = field("employee_id" as C);
    if (!employeeId) rowProblems.push("employee_id is empty");
    const wallet = parseWallet(field("wallet" as C));
    if (!isParsedWallet(wallet)) rowProblems.push(wallet);
    const fields = parseRow({
      field,
      attempt: (parse) => {
        try {
          return parse();
        } catch (e) {
          if (e instanceof InputFormatError) rowProblems.push(e.message);
          else throw e;
          return undefined;
        }
      },
      problem: (message) => rowProblems.push(message),
    });
    if (rowProblems.length || !isParsedWallet(wallet) || fields === undefined) {
      problems.push(...rowProblems.map((message) => ({ line: r.line, message })));
      continue;
    }
    const key = `${employeeId}|${wallet}|${sameRow(fields)}`;
    const dup = seenRow.get(key);
    if (dup !== undefined) {
      problems.push({ line: r.line, message: `duplicates line ${dup}` });
      continue;
    }
    const owner = walletOwner.get(wallet);
    if (owner && owner.employeeId !== employeeId) {
      problems.push({ line: r.line, message: `wallet ${wallet} belongs to employee ${owner.employeeId} on line ${owner.line}` });
      continue;
    }
    const known = employeeWallet.get(employeeId);
    if (known && known.wallet !== wallet) {
      problems.push({ line: r.line, message: `employee ${employeeId} has wallet ${known.wallet} on line ${known.line}` });
      continue;
    }
    seenRow.set(key, r.line);
    walletOwner.set(wallet, { employeeId, line: r.line });
    employeeWallet.set(employeeId, { wallet, line: r.line });
    rows.push({ line: r.line, employeeId, wallet, ...fields });
  }
  return { rows, problems: problems.sort(byLine) };
}
