/**
 * Grants from a payroll file (`grants.csv`: employee_id,wallet,class,gpu_hours,expires_at,transferable).
 *
 * 1. {@link parseGrantsCsv} checks every row on its own (address, hours, expiry format, duplicates).
 * 2. {@link prepareGrants} resolves classes against the chain, finds which rows of the payroll run
 *    (`run`, e.g. "2026-11") already landed — per row, see grantRows.ts: independent of the file's
 *    encoding, of chunking and of the other rows — and checks the rest against the chain (onboarded,
 *    class active, not expired). Nothing is sent unless every row is clean.
 * 3. {@link sendGrants} sends the rest through grantRun.ts (the one run engine of both tokens): it waits
 *    for the HR account's transactions still in flight, reads the landed rows again, cuts the rest into
 *    chunks that fit a transaction by gas estimate, and sends them. A run re-run mints nothing twice;
 *    an interrupted run resumes by running it again.
 */
import { type Address, type Hex, type TransactionReceipt, keccak256, toBytes } from "viem";
import { type CtkClient, chainTime } from "./client.js";
import { type ClassInfo, listClasses } from "./classes.js";
import { toCtkError } from "./errors.js";
import { fetchComputeTokenEvents, decodeComputeTokenLogs } from "./events.js";
import { type GrantRunPlan, planGrantRun } from "./grantPlan.js";
import { type GrantRowKey, normalizeRunName } from "./grantRows.js";
import { type GrantRunToken, type SendGrantRunOptions, findRunMints, sendGrantRun } from "./grantRun.js";
import { parseExpiry, parseHours, parseTransferable } from "./format.js";
import type { RowProblem } from "./holders.js";
import { encodeLotId, type TransferPolicyName } from "./lotId.js";
import { parsePayrollCsv } from "./payrollFile.js";

export const GRANT_COLUMNS = ["employee_id", "wallet", "class", "gpu_hours", "expires_at", "transferable"] as const;

export interface GrantRow {
  line: number;
  employeeId: string;
  wallet: Address;
  className: string;
  /** GPU-seconds. */
  units: bigint;
  /** Unix seconds. */
  expiresAt: bigint;
  policy: TransferPolicyName;
}

export interface ResolvedGrantRow extends GrantRow {
  classId: number;
  lotId: bigint;
}

/** The on-chain key of a resolved row (grantRows.ts). */
export const grantRowKeyOf = (r: ResolvedGrantRow): GrantRowKey => ({ recipient: r.wallet, tokenId: r.lotId, amount: r.units });

/** Checks each row on its own and against the others; chain state is not consulted. */
export function parseGrantsCsv(text: string): { rows: GrantRow[]; problems: RowProblem[] } {
  return parsePayrollCsv(
    text,
    GRANT_COLUMNS,
    (row) => {
      const className = row.field("class");
      if (!className) row.problem("class is empty");
      const units = row.attempt(() => parseHours(row.field("gpu_hours")));
      const expiresAt = row.attempt(() => parseExpiry(row.field("expires_at")));
      const policy = row.attempt(() => parseTransferable(row.field("transferable")));
      return className && units !== undefined && expiresAt !== undefined && policy ? { className, units, expiresAt, policy } : undefined;
    },
    (f) => [f.className, f.units, f.expiresAt, f.policy].join("|"),
  );
}

// ───────────────────────────── runs ─────────────────────────────

/** keccak256 of the file's exact bytes (shown for reference; idempotency does not depend on it). */
export const grantFileHash = (content: string | Uint8Array): Hex => keccak256(typeof content === "string" ? toBytes(content) : content);

/** Rows in the order they are sent: by lot (so a chunk touches few lots), then by line. */
const byLotThenLine = (a: ResolvedGrantRow, b: ResolvedGrantRow) => (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : a.line - b.line);

const isMint = (from: Address) => /^0x0{40}$/i.test(from);
const ownLogs = (client: CtkClient, receipt: TransactionReceipt) => receipt.logs.filter((l) => l.address.toLowerCase() === client.computeToken.address.toLowerCase());

/**
 * ComputeToken's grant runs (grantRun.ts): a run's batches are its BatchGranted events, a row's mint
 * is a TransferSingle from the zero address in their transactions; a row refused by its recipient
 * contract (GrantRefused) was not minted, so it is not among them.
 */
export function computeTokenGrantRuns(client: CtkClient): GrantRunToken<ResolvedGrantRow> {
  return {
    domain: "grant-run",
    contract: client.computeToken,
    batches: async (c, toBlock) =>
      (
        await fetchComputeTokenEvents({
          publicClient: c.publicClient,
          address: c.computeToken.address,
          names: ["BatchGranted"],
          fromBlock: BigInt(c.deployment.deployBlock),
          toBlock,
        })
      ).map((e) => ({ batchRef: e.args.batchRef, transactionHash: e.transactionHash })),
    mints: (receipt) =>
      decodeComputeTokenLogs(ownLogs(client, receipt), ["TransferSingle"])
        .filter((e) => isMint(e.args.from))
        .map((e) => ({ recipient: e.args.to, tokenId: e.args.id, amount: e.args.value })),
    keyOf: grantRowKeyOf,
    argsOf: (batchRef, chunk) => [batchRef, chunk.map((r) => r.wallet), chunk.map((r) => r.lotId), chunk.map((r) => r.units)],
    refusedOf: (receipt) =>
      decodeComputeTokenLogs(ownLogs(client, receipt), ["GrantRefused"]).map((e) => ({ recipient: e.args.recipient, tokenId: e.args.lotId, amount: e.args.amount })),
  };
}

export interface ClassTotal {
  className: string;
  rows: number;
  recipients: number;
  units: bigint;
}

export function totalsByClass(rows: readonly GrantRow[]): ClassTotal[] {
  const m = new Map<string, { rows: number; wallets: Set<string>; units: bigint }>();
  for (const r of rows) {
    const t = m.get(r.className) ?? { rows: 0, wallets: new Set(), units: 0n };
    t.rows++;
    t.wallets.add(r.wallet);
    t.units += r.units;
    m.set(r.className, t);
  }
  return [...m].map(([className, t]) => ({ className, rows: t.rows, recipients: t.wallets.size, units: t.units }));
}

// ───────────────────────────── preparing ─────────────────────────────

/** A grants file checked against the chain: pending rows by lot then line, totals per class. */
export type GrantPlan = GrantRunPlan<GrantRow, ResolvedGrantRow, ClassTotal>;

export interface PrepareOptions {
  /** The payroll run's name (e.g. "2026-11"): a row lands once per run. */
  run: string;
}

/**
 * Parses and checks a grants file against the chain and finds which of its rows the run already
 * granted. Read-only: a dry run is this and nothing more.
 */
export async function prepareGrants(client: CtkClient, content: string | Uint8Array, opts: PrepareOptions): Promise<GrantPlan> {
  const run = normalizeRunName(opts.run);
  const fileHash = grantFileHash(content);
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  const { rows, problems } = parseGrantsCsv(text);
  let classes: ClassInfo[];
  let now: bigint;
  let mints: GrantRowKey[];
  try {
    [classes, now, mints] = await Promise.all([listClasses(client), chainTime(client), findRunMints(client, computeTokenGrantRuns(client), run)]);
  } catch (e) {
    throw await toCtkError(client, e);
  }
  const byName = new Map(classes.map((c) => [c.name, c]));
  const known = classes.map((c) => c.name).join(", ") || "none defined";

  const resolved: ResolvedGrantRow[] = [];
  for (const r of rows) {
    const c = byName.get(r.className);
    if (!c) {
      problems.push({ line: r.line, message: `unknown class "${r.className}" (classes: ${known})` });
      continue;
    }
    resolved.push({ ...r, classId: c.classId, lotId: encodeLotId({ classId: c.classId, expiresAt: r.expiresAt, policy: r.policy }) });
  }
  return planGrantRun(client, {
    run,
    fileHash,
    rows,
    problems,
    sendable: resolved,
    mints,
    keyOf: grantRowKeyOf,
    order: byLotThenLine,
    now,
    checks: async () => (r, problem) => {
      if (!byName.get(r.className)!.active) problem(`class ${r.className} is retired`);
    },
    totals: totalsByClass,
  });
}

// ───────────────────────────── sending ─────────────────────────────

export type { GrantProgress } from "./grantRun.js";
export type SendGrantsOptions = SendGrantRunOptions;

export interface RefusedGrant {
  wallet: Address;
  lotId: bigint;
  units: bigint;
}

export interface GrantResult {
  /** Transactions this run sent and that landed. */
  batchesSent: number;
  rowsMinted: number;
  unitsMinted: bigint;
  /** Rows found already granted when sending started (another run got there first). */
  rowsSkipped: number;
  /** Rows whose recipient contract refused the units (not minted; a later run tries them again). */
  refused: RefusedGrant[];
  gasUsed: bigint;
  transactions: Hex[];
}

/**
 * Sends the plan's pending rows (HR role) through grantRun.ts: the landed rows are read again first,
 * so a stale plan or an interrupted run never pays a row twice; running again resumes.
 */
export async function sendGrants(client: CtkClient, plan: GrantPlan, opts: SendGrantsOptions = {}): Promise<GrantResult> {
  if (plan.problems.length) throw new Error(`the file has ${plan.problems.length} problem(s): nothing may be sent`);
  const { amountMinted, refused, ...r } = await sendGrantRun(client, computeTokenGrantRuns(client), plan.run, plan.pending, opts);
  return { ...r, unitsMinted: amountMinted, refused: refused.map((k) => ({ wallet: k.recipient, lotId: k.tokenId, units: k.amount })) };
}
