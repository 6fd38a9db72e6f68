/**
 * Credit grants from a payroll file (`credits.csv`: employee_id,wallet,credits,expires_at,transferable).
 *
 * The same checks as GPU-hour grants (../grants.ts): every row on its own (address, amount, expiry,
 * duplicates, one wallet per employee), then against the chain (onboarded, expiry in the future, room
 * in the holder's 8 buckets). Rows are grouped by (expiry, policy) — one `grantBatch` takes one of each —
 * and chunked by at most MAX_BATCH rows, sorted by wallet.
 *
 * Idempotency: a chunk's batchRef is keccak256("ctk-credit-grant", contentHash, expiry, policy, index,
 * count), where contentHash hashes the file's rows normalised and sorted (not its bytes): the same rows
 * re-encoded (BOM, CRLF, quoting, row order) are the same grant. Running a file again sends only the
 * chunks that have not landed (the contract refuses a batchRef twice), so no row is ever paid twice and
 * an interrupted run resumes.
 */
import { type Address, type Hex, encodeAbiParameters, keccak256, stringToBytes } from "viem";
import { type CtkClient, chainTime, requireWriter } from "../client.js";
import { columnIndex, CsvSyntaxError, parseCsv } from "../csv.js";
import { ContractError, toCtkError } from "../errors.js";
import { InputFormatError, formatExpiry, parseExpiry, parseTransferable } from "../format.js";
import { MAX_BATCH, type RowProblem, holderStatus, isParsedWallet, parseWallet } from "../holders.js";
import { creditContract } from "./contract.js";
import { parseCredits } from "./units.js";
import { submitInferenceCredit } from "./write.js";

export const CREDIT_GRANT_COLUMNS = ["employee_id", "wallet", "credits", "expires_at", "transferable"] as const;
/** Live buckets a holder may have (InferenceCredit.MAX_BUCKETS). */
export const MAX_BUCKETS = 8;

export interface CreditGrantRow {
  line: number;
  employeeId: string;
  wallet: Address;
  /** Base units. */
  amount: bigint;
  /** Unix seconds. */
  expiresAt: bigint;
  transferable: boolean;
}

const byLine = (a: RowProblem, b: RowProblem) => a.line - b.line;

/** Checks each row on its own and against the others; chain state is not consulted. */
export function parseCreditGrantsCsv(text: string): { rows: CreditGrantRow[]; problems: RowProblem[] } {
  const rows: CreditGrantRow[] = [];
  const problems: RowProblem[] = [];
  let table;
  try {
    table = parseCsv(text);
  } catch (e) {
    if (e instanceof CsvSyntaxError) return { rows, problems: [{ line: e.line, message: e.message.replace(/^line \d+: /, "") }] };
    throw e;
  }
  const cols = columnIndex(table.header, CREDIT_GRANT_COLUMNS);
  if ("missing" in cols) {
    return { rows, problems: [{ line: 1, message: `header must have columns ${CREDIT_GRANT_COLUMNS.join(",")} (missing ${cols.missing.join(", ")})` }] };
  }
  if (!table.records.length) return { rows, problems: [{ line: 1, message: "the file has no rows" }] };

  const seenRow = new Map<string, number>();
  const walletOwner = new Map<string, { employeeId: string; line: number }>();
  const employeeWallet = new Map<string, { wallet: Address; line: number }>();
  for (const r of table.records) {
    const field = (c: (typeof CREDIT_GRANT_COLUMNS)[number]) => (r.fields[cols.index[c]] ?? "").trim();
    const rowProblems: string[] = [];
    if (r.fields.length !== table.header.length) rowProblems.push(`has ${r.fields.length} fields, the header has ${table.header.length}`);
    const employeeId = field("employee_id");
    if (!employeeId) rowProblems.push("employee_id is empty");
    const wallet = parseWallet(field("wallet"));
    if (!isParsedWallet(wallet)) rowProblems.push(wallet);
    const attempt = <T>(f: () => T): T | undefined => {
      try {
        return f();
      } catch (e) {
        if (e instanceof InputFormatError) rowProblems.push(e.message);
        else throw e;
        return undefined;
      }
    };
    const amount = attempt(() => parseCredits(field("credits"), "credits"));
    const expiresAt = attempt(() => parseExpiry(field("expires_at")));
    const policy = attempt(() => parseTransferable(field("transferable")));
    if (amount !== undefined && amount > 2n ** 96n - 1n) rowProblems.push(`credits "${field("credits")}" is too large`);
    if (rowProblems.length || !isParsedWallet(wallet) || amount === undefined || expiresAt === undefined || !policy) {
      problems.push(...rowProblems.map((message) => ({ line: r.line, message })));
      continue;
    }
    const transferable = policy === "transferable";
    const key = [employeeId, wallet, amount, expiresAt, transferable].join("|");
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
    rows.push({ line: r.line, employeeId, wallet, amount, expiresAt, transferable });
  }
  return { rows, problems: problems.sort(byLine) };
}

// ───────────────────────────── batches ─────────────────────────────

export interface CreditGrantBatch {
  batchRef: Hex;
  expiresAt: bigint;
  transferable: boolean;
  rows: CreditGrantRow[];
  amount: bigint;
}

/** keccak256 of the rows normalised (employee, wallet, base units, unix expiry, policy) and sorted. */
export function creditGrantContentHash(rows: readonly CreditGrantRow[]): Hex {
  const lines = rows.map((r) => [r.employeeId, r.wallet.toLowerCase(), r.amount, r.expiresAt, r.transferable ? 1 : 0].join("|")).sort();
  return keccak256(stringToBytes(lines.join("\n")));
}

export function creditGrantBatchRef(contentHash: Hex, expiresAt: bigint, transferable: boolean, index: number, count: number): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "string" }, { type: "bytes32" }, { type: "uint64" }, { type: "bool" }, { type: "uint256" }, { type: "uint256" }],
      ["ctk-credit-grant", contentHash, expiresAt, transferable, BigInt(index), BigInt(count)],
    ),
  );
}

/** Groups rows by (expiry, policy), each group chunked by `batchSize` rows sorted by wallet. Deterministic. */
export function planCreditGrantBatches(rows: readonly CreditGrantRow[], batchSize = MAX_BATCH): CreditGrantBatch[] {
  if (batchSize < 1 || batchSize > MAX_BATCH) throw new RangeError(`batch size must be 1..${MAX_BATCH}`);
  const contentHash = creditGrantContentHash(rows);
  const groups = new Map<string, CreditGrantRow[]>();
  for (const r of rows) {
    const k = `${r.expiresAt}|${r.transferable}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: CreditGrantBatch[] = [];
  for (const k of [...groups.keys()].sort()) {
    const group = groups.get(k)!.sort((a, b) => (a.wallet.toLowerCase() < b.wallet.toLowerCase() ? -1 : 1));
    const { expiresAt, transferable } = group[0];
    const count = Math.ceil(group.length / batchSize);
    for (let index = 0; index < count; index++) {
      const part = group.slice(index * batchSize, (index + 1) * batchSize);
      out.push({
        batchRef: creditGrantBatchRef(contentHash, expiresAt, transferable, index, count),
        expiresAt,
        transferable,
        rows: part,
        amount: part.reduce((s, r) => s + r.amount, 0n),
      });
    }
  }
  return out;
}

export interface CreditGrantPlan {
  rows: CreditGrantRow[];
  problems: RowProblem[];
  batches: CreditGrantBatch[];
  pending: CreditGrantBatch[];
  checkedAt: bigint;
}

/** Parses and checks a credits file against the chain and plans its batches. Read-only. */
export async function prepareCreditGrants(client: CtkClient, content: string | Uint8Array, opts: { batchSize?: number } = {}): Promise<CreditGrantPlan> {
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  const { rows, problems } = parseCreditGrantsCsv(text);
  const credit = creditContract(client);
  let now: bigint;
  try {
    now = await chainTime(client);
  } catch (e) {
    throw await toCtkError(client, e);
  }
  const plan: CreditGrantPlan = { rows, problems, batches: [], pending: [], checkedAt: now };
  let toCheck = rows;
  if (!problems.length) {
    plan.batches = planCreditGrantBatches(rows, opts.batchSize);
    let granted: boolean[];
    try {
      granted = await Promise.all(
        plan.batches.map((b) => client.publicClient.readContract({ ...credit, functionName: "batchGranted", args: [b.batchRef] })),
      );
    } catch (e) {
      throw await toCtkError(client, e, { functionName: "batchGranted" });
    }
    plan.pending = plan.batches.filter((_, i) => !granted[i]);
    toCheck = plan.pending.flatMap((b) => b.rows);
  }

  const status = await holderStatus(client, toCheck.map((r) => r.wallet));
  // Room in each holder's buckets: live buckets (expired ones are swept on the way) plus the new keys.
  const wallets = [...new Set(toCheck.map((r) => r.wallet))];
  let buckets: (readonly { expiresAt: number; transferable: boolean }[])[];
  try {
    buckets = await Promise.all(wallets.map((w) => client.publicClient.readContract({ ...credit, functionName: "bucketsOf", args: [w] })));
  } catch (e) {
    throw await toCtkError(client, e, { functionName: "bucketsOf" });
  }
  const keysOf = new Map(wallets.map((w, i) => [w, new Set(buckets[i].filter((b) => BigInt(b.expiresAt) > now).map((b) => `${b.expiresAt}|${b.transferable}`))]));
  for (const r of toCheck) {
    if (!status.get(r.wallet)) problems.push({ line: r.line, message: `wallet ${r.wallet} (employee ${r.employeeId}) is not onboarded` });
    if (r.expiresAt <= now) {
      problems.push({ line: r.line, message: `expires_at ${formatExpiry(r.expiresAt)} is in the past (chain time ${formatExpiry(now)})` });
      continue;
    }
    const keys = keysOf.get(r.wallet)!;
    keys.add(`${r.expiresAt}|${r.transferable}`);
    if (keys.size > MAX_BUCKETS) {
      problems.push({ line: r.line, message: `wallet ${r.wallet} would hold more than ${MAX_BUCKETS} live credit buckets (expiry × policy)` });
    }
  }
  problems.sort(byLine);
  if (problems.length) {
    plan.batches = [];
    plan.pending = [];
  }
  return plan;
}

export interface CreditGrantResult {
  batchesSent: number;
  rowsGranted: number;
  amountGranted: bigint;
  /** Batches that turned out to be granted already (another run got there first). */
  batchesSkipped: number;
  gasUsed: bigint;
  transactions: Hex[];
}

/** Sends the plan's pending batches one after the other (HR role). Running the file again resumes. */
export async function sendCreditGrants(
  client: CtkClient,
  plan: CreditGrantPlan,
  onProgress?: (rowsDone: number) => void,
): Promise<CreditGrantResult> {
  if (plan.problems.length) throw new Error(`the file has ${plan.problems.length} problem(s): nothing may be sent`);
  requireWriter(client);
  const result: CreditGrantResult = { batchesSent: 0, rowsGranted: 0, amountGranted: 0n, batchesSkipped: 0, gasUsed: 0n, transactions: [] };
  let rowsDone = 0;
  for (const b of plan.pending) {
    const args = [b.batchRef, Number(b.expiresAt), b.transferable, b.rows.map((r) => r.wallet), b.rows.map((r) => r.amount)] as const;
    try {
      const hash = await submitInferenceCredit(client, "grantBatch", [...args] as never);
      const receipt = await client.publicClient.waitForTransactionReceipt({ hash, pollingInterval: client.publicClient.pollingInterval });
      if (receipt.status !== "success") throw new Error(`grantBatch transaction ${hash} reverted`);
      result.batchesSent++;
      result.rowsGranted += b.rows.length;
      result.amountGranted += b.amount;
      result.gasUsed += receipt.gasUsed;
      result.transactions.push(hash);
    } catch (e) {
      if (e instanceof ContractError && e.errorName === "BatchAlreadyGranted") result.batchesSkipped++;
      else throw e;
    }
    rowsDone += b.rows.length;
    onProgress?.(rowsDone);
  }
  return result;
}
