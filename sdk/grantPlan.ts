/**
 * What a grants file (GPU-hours, grants.ts) and a credits file (inference credits, credits/grants.ts)
 * share once parsed: the rows the run already landed and those still to send, then the chain checks
 * on every row that would be sent (on every sendable row when the file already has problems): the
 * wallet onboarded, the expiry after chain time, and the file's own checks. Read-only.
 */
import type { Address, Hex } from "viem";
import type { CtkClient } from "./client.js";
import { formatExpiry } from "./format.js";
import { type GrantRowKey, matchLandedRows } from "./grantRows.js";
import { type RowProblem, holderStatus } from "./holders.js";

/** A grant file checked against the chain: `Row` as parsed, `Sent` as sent, `Total` per group of pending rows. */
export interface GrantRunPlan<Row, Sent, Total> {
  /** The payroll run the rows belong to. */
  run: string;
  /** keccak256 of the file's bytes (for reference; idempotency does not depend on it). */
  fileHash: Hex;
  /** Rows that parsed (all of them when `problems` is empty). */
  rows: Row[];
  /** Every problem found, by line. Non-empty: nothing may be sent. */
  problems: RowProblem[];
  /** Rows of this run already on chain. */
  granted: Sent[];
  /** Rows still to send, in sending order (empty when there are problems). */
  pending: Sent[];
  /** Totals over the pending rows. */
  totals: Total[];
  /** The chain time rows were checked against. */
  checkedAt: bigint;
}

/** What every row that can be sent carries. */
export interface SendableRow {
  line: number;
  employeeId: string;
  wallet: Address;
  /** Unix seconds. */
  expiresAt: bigint;
}

/** The file's own check of one row: it names each problem through `problem`. */
export type RowCheck<Sent> = (row: Sent, problem: (message: string) => void) => void;

export interface GrantFile<Row, Sent, Total> {
  run: string;
  fileHash: Hex;
  rows: Row[];
  /** The file's problems so far; the chain checks add theirs. */
  problems: RowProblem[];
  /** The rows that could be sent. */
  sendable: Sent[];
  /** What the run minted so far ({@link findRunMints}), and what a row mints. */
  mints: GrantRowKey[];
  keyOf: (row: Sent) => GrantRowKey;
  /** Sending order. */
  order: (a: Sent, b: Sent) => number;
  /** Chain time. */
  now: bigint;
  /** The file's own checks of the rows to check (after any chain reads they need). */
  checks?: (toCheck: Sent[]) => Promise<RowCheck<Sent>>;
  totals: (pending: Sent[]) => Total[];
}

const byLine = (a: RowProblem, b: RowProblem) => a.line - b.line;

/** The plan of a parsed grant file: landed and pending rows, every problem by line, the totals. */
export async function planGrantRun<Row, Sent extends SendableRow, Total>(client: CtkClient, file: GrantFile<Row, Sent, Total>): Promise<GrantRunPlan<Row, Sent, Total>> {
  const { problems, now } = file;
  const split = matchLandedRows(file.sendable, file.mints, file.keyOf);
  const toCheck = problems.length ? file.sendable : split.pending;
  const [status, check] = await Promise.all([
    holderStatus(
      client,
      toCheck.map((r) => r.wallet),
    ),
    file.checks?.(toCheck),
  ]);
  for (const r of toCheck) {
    const problem = (message: string) => problems.push({ line: r.line, message });
    if (!status.get(r.wallet)) problem(`wallet ${r.wallet} (employee ${r.employeeId}) is not onboarded`);
    if (r.expiresAt <= now) problem(`expires_at ${formatExpiry(r.expiresAt)} is in the past (chain time ${formatExpiry(now)})`);
    check?.(r, problem);
  }
  problems.sort(byLine);
  const pending = problems.length ? [] : split.pending.sort(file.order);
  return { run: file.run, fileHash: file.fileHash, rows: file.rows, problems, granted: split.landed, pending, totals: file.totals(pending), checkedAt: now };
}
