/**
 * Grants from a payroll file (`grants.csv`: employee_id,wallet,class,gpu_hours,expires_at,transferable).
 *
 * 1. {@link parseGrantsCsv} checks every row on its own (address, hours, expiry format, duplicates).
 * 2. {@link prepareGrants} resolves classes against the chain, plans batches (≤ MAX_BATCH rows, sorted
 *    by lot) each with `batchRef = keccak256(abi.encode(fileHash, chunkIndex, chunkCount))`, finds the
 *    batches that already landed, and checks the rest against the chain (onboarded, class active,
 *    not expired). Nothing is sent unless every row is clean.
 * 3. {@link sendGrants} sends the pending batches. The same file twice mints nothing the second
 *    time; an interrupted run resumes by running it again.
 */
import { type Address, type Hex, encodeAbiParameters, keccak256, toBytes } from "viem";
import { type CtkClient, chainTime, requireWriter } from "./client.js";
import { type ClassInfo, listClasses } from "./classes.js";
import { columnIndex, CsvSyntaxError, parseCsv } from "./csv.js";
import { ContractError, toCtkError } from "./errors.js";
import { InputFormatError, formatExpiry, parseExpiry, parseHours, parseTransferable } from "./format.js";
import { MAX_BATCH, type RowProblem, holderStatus, isParsedWallet, parseWallet } from "./holders.js";
import { encodeLotId, type TransferPolicyName } from "./lotId.js";
import { submitComputeToken, waitForSuccess } from "./write.js";

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

const byLine = (a: RowProblem, b: RowProblem) => a.line - b.line;

/** Checks each row on its own and against the others; chain state is not consulted. */
export function parseGrantsCsv(text: string): { rows: GrantRow[]; problems: RowProblem[] } {
  const rows: GrantRow[] = [];
  const problems: RowProblem[] = [];
  let table;
  try {
    table = parseCsv(text);
  } catch (e) {
    if (e instanceof CsvSyntaxError) return { rows, problems: [{ line: e.line, message: e.message.replace(/^line \d+: /, "") }] };
    throw e;
  }
  const cols = columnIndex(table.header, GRANT_COLUMNS);
  if ("missing" in cols) {
    return {
      rows,
      problems: [{ line: 1, message: `header must have columns ${GRANT_COLUMNS.join(",")} (missing ${cols.missing.join(", ")})` }],
    };
  }
  if (!table.records.length) return { rows, problems: [{ line: 1, message: "the file has no rows" }] };

  const seenRow = new Map<string, number>();
  const walletOwner = new Map<string, { employeeId: string; line: number }>();
  const employeeWallet = new Map<string, { wallet: Address; line: number }>();
  for (const r of table.records) {
    const field = (c: (typeof GRANT_COLUMNS)[number]) => (r.fields[cols.index[c]] ?? "").trim();
    const rowProblems: string[] = [];
    if (r.fields.length !== table.header.length) {
      rowProblems.push(`has ${r.fields.length} fields, the header has ${table.header.length}`);
    }
    const employeeId = field("employee_id");
    if (!employeeId) rowProblems.push("employee_id is empty");
    const wallet = parseWallet(field("wallet"));
    if (!isParsedWallet(wallet)) rowProblems.push(wallet);
    const className = field("class");
    if (!className) rowProblems.push("class is empty");
    const attempt = <T>(f: () => T): T | undefined => {
      try {
        return f();
      } catch (e) {
        if (e instanceof InputFormatError) rowProblems.push(e.message);
        else throw e;
        return undefined;
      }
    };
    const units = attempt(() => parseHours(field("gpu_hours")));
    const expiresAt = attempt(() => parseExpiry(field("expires_at")));
    const policy = attempt(() => parseTransferable(field("transferable")));
    if (rowProblems.length || !isParsedWallet(wallet) || units === undefined || expiresAt === undefined || !policy) {
      problems.push(...rowProblems.map((message) => ({ line: r.line, message })));
      continue;
    }
    const key = [employeeId, wallet, className, units, expiresAt, policy].join("|");
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
    rows.push({ line: r.line, employeeId, wallet, className, units, expiresAt, policy });
  }
  return { rows, problems: problems.sort(byLine) };
}

// ───────────────────────────── batches ─────────────────────────────

export interface GrantBatch {
  index: number;
  count: number;
  batchRef: Hex;
  rows: ResolvedGrantRow[];
  units: bigint;
}

/** keccak256 of the file's exact bytes. */
export const grantFileHash = (content: string | Uint8Array): Hex =>
  keccak256(typeof content === "string" ? toBytes(content) : content);

/** The batchRef of one chunk of a file: keccak256(abi.encode(fileHash, chunkIndex, chunkCount)). */
export const grantBatchRef = (fileHash: Hex, index: number, count: number): Hex =>
  keccak256(
    encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }, { type: "uint256" }], [fileHash, BigInt(index), BigInt(count)]),
  );

/**
 * Splits rows into batches of at most `batchSize`, rows sorted by lot (then line) so that a batch
 * touches few lots. Deterministic for a given file and chain (class ids never change).
 */
export function planGrantBatches(fileHash: Hex, rows: readonly ResolvedGrantRow[], batchSize = MAX_BATCH): GrantBatch[] {
  if (batchSize < 1 || batchSize > MAX_BATCH) throw new RangeError(`batch size must be 1..${MAX_BATCH}`);
  const sorted = [...rows].sort((a, b) => (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : a.line - b.line));
  const count = Math.ceil(sorted.length / batchSize);
  return Array.from({ length: count }, (_, index) => {
    const part = sorted.slice(index * batchSize, (index + 1) * batchSize);
    return {
      index,
      count,
      batchRef: grantBatchRef(fileHash, index, count),
      rows: part,
      units: part.reduce((s, r) => s + r.units, 0n),
    };
  });
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

export interface GrantPlan {
  fileHash: Hex;
  /** Rows that parsed (all of them when `problems` is empty). */
  rows: GrantRow[];
  /** Every problem found, by line. Non-empty: nothing may be sent. */
  problems: RowProblem[];
  /** All batches of the file (empty when there are problems). */
  batches: GrantBatch[];
  /** Batches not yet on chain: what a run would send. */
  pending: GrantBatch[];
  /** Totals per class over the pending rows. */
  totals: ClassTotal[];
  /** The chain time rows were checked against. */
  checkedAt: bigint;
}

export interface PrepareOptions {
  batchSize?: number;
}

/**
 * Parses and checks a grants file against the chain and plans its batches. Read-only: a dry run
 * is this and nothing more.
 */
export async function prepareGrants(
  client: CtkClient,
  content: string | Uint8Array,
  opts: PrepareOptions = {},
): Promise<GrantPlan> {
  const fileHash = grantFileHash(content);
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  const { rows, problems } = parseGrantsCsv(text);
  let classes: ClassInfo[];
  let now: bigint;
  try {
    [classes, now] = await Promise.all([listClasses(client), chainTime(client)]);
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

  const plan: GrantPlan = { fileHash, rows, problems, batches: [], pending: [], totals: [], checkedAt: now };
  let toCheck: ResolvedGrantRow[] = resolved;
  if (!problems.length) {
    plan.batches = planGrantBatches(fileHash, resolved, opts.batchSize);
    let granted: boolean[];
    try {
      granted = await Promise.all(
        plan.batches.map((b) =>
          client.publicClient.readContract({ ...client.computeToken, functionName: "batchGranted", args: [b.batchRef] }),
        ),
      );
    } catch (e) {
      throw await toCtkError(client, e, { functionName: "batchGranted" });
    }
    plan.pending = plan.batches.filter((_, i) => !granted[i]);
    toCheck = plan.pending.flatMap((b) => b.rows);
  }

  // Chain checks on every row that would be sent (or on every parsed row when the file is already bad).
  const status = await holderStatus(client, toCheck.map((r) => r.wallet));
  for (const r of toCheck) {
    const c = byName.get(r.className)!;
    if (!c.active) problems.push({ line: r.line, message: `class ${r.className} is retired` });
    if (!status.get(r.wallet)) {
      problems.push({ line: r.line, message: `wallet ${r.wallet} (employee ${r.employeeId}) is not onboarded` });
    }
    if (r.expiresAt <= now) {
      problems.push({ line: r.line, message: `expires_at ${formatExpiry(r.expiresAt)} is in the past (chain time ${formatExpiry(now)})` });
    }
  }
  problems.sort(byLine);
  if (problems.length) {
    plan.batches = [];
    plan.pending = [];
  }
  plan.totals = totalsByClass(plan.pending.flatMap((b) => b.rows));
  return plan;
}

// ───────────────────────────── sending ─────────────────────────────

export interface GrantProgress {
  batchesDone: number;
  batchesTotal: number;
  rowsDone: number;
  rowsTotal: number;
}

export interface SendGrantsOptions {
  onProgress?: (p: GrantProgress) => void;
  /** Transactions sent ahead of their receipts (default 4). 1 = one at a time. */
  inFlight?: number;
}

export interface GrantResult {
  /** Batches this run minted. */
  batchesSent: number;
  rowsMinted: number;
  unitsMinted: bigint;
  /** Batches that turned out to be granted already (another run got there first). */
  batchesSkipped: number;
  gasUsed: bigint;
  transactions: Hex[];
}

/**
 * Sends the plan's pending batches (HR role). On the first failure it waits for what is in flight
 * and throws; running the same file again resumes with the batches still missing.
 */
export async function sendGrants(client: CtkClient, plan: GrantPlan, opts: SendGrantsOptions = {}): Promise<GrantResult> {
  if (plan.problems.length) throw new Error(`the file has ${plan.problems.length} problem(s): nothing may be sent`);
  const w = requireWriter(client);
  const inFlight = Math.max(1, opts.inFlight ?? 4);
  const result: GrantResult = { batchesSent: 0, rowsMinted: 0, unitsMinted: 0n, batchesSkipped: 0, gasUsed: 0n, transactions: [] };
  const rowsTotal = plan.pending.reduce((s, b) => s + b.rows.length, 0);
  let rowsDone = 0;
  let batchesDone = 0;
  const report = () =>
    opts.onProgress?.({ batchesDone, batchesTotal: plan.pending.length, rowsDone, rowsTotal });

  let nonce: number;
  try {
    nonce = await w.publicClient.getTransactionCount({ address: w.account.address, blockTag: "pending" });
  } catch (e) {
    throw await toCtkError(client, e);
  }
  const window: Promise<void>[] = [];
  let failure: unknown;
  const settle = async (batch: GrantBatch, hash: Hex, args: readonly [Hex, Address[], bigint[], bigint[]]) => {
    try {
      const receipt = await waitForSuccess(client, hash, { functionName: "grantBatch", args });
      result.batchesSent++;
      result.rowsMinted += batch.rows.length;
      result.unitsMinted += batch.units;
      result.gasUsed += receipt.gasUsed;
      result.transactions.push(hash);
    } catch (e) {
      if (e instanceof ContractError && e.errorName === "BatchAlreadyGranted") result.batchesSkipped++;
      else failure ??= e;
    }
    batchesDone++;
    rowsDone += batch.rows.length;
    report();
  };

  for (const batch of plan.pending) {
    if (failure) break;
    const args = [
      batch.batchRef,
      batch.rows.map((r) => r.wallet),
      batch.rows.map((r) => r.lotId),
      batch.rows.map((r) => r.units),
    ] as const satisfies readonly [Hex, Address[], bigint[], bigint[]];
    let hash: Hex;
    try {
      hash = await submitComputeToken(client, "grantBatch", args, { nonce });
    } catch (e) {
      if (e instanceof ContractError && e.errorName === "BatchAlreadyGranted") {
        result.batchesSkipped++;
        batchesDone++;
        rowsDone += batch.rows.length;
        report();
        continue;
      }
      failure = e;
      break;
    }
    nonce++;
    const p = settle(batch, hash, args);
    window.push(p);
    p.finally(() => window.splice(window.indexOf(p), 1));
    if (window.length >= inFlight) await Promise.race(window);
  }
  await Promise.all(window);
  if (failure) throw failure;
  return result;
}
