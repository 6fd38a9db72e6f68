/**
 * Grants from a payroll file (`grants.csv`: employee_id,wallet,class,gpu_hours,expires_at,transferable).
 *
 * 1. {@link parseGrantsCsv} checks every row on its own (address, hours, expiry format, duplicates).
 * 2. {@link prepareGrants} resolves classes against the chain, finds which rows of the payroll run
 *    (`run`, e.g. "2026-11") already landed — per row, see grantRows.ts: independent of the file's
 *    encoding, of chunking and of the other rows — and checks the rest against the chain (onboarded,
 *    class active, not expired). Nothing is sent unless every row is clean.
 * 3. {@link sendGrants} waits for the HR account's transactions still in flight, reads the landed rows
 *    again, cuts the rest into chunks that fit a transaction by gas estimate, and sends them. A run
 *    re-run mints nothing twice; an interrupted run resumes by running it again.
 */
import { type Address, type Hex, keccak256, toBytes } from "viem";
import { type CtkClient, chainTime, requireWriter } from "./client.js";
import { type ClassInfo, listClasses } from "./classes.js";
import { columnIndex, CsvSyntaxError, parseCsv } from "./csv.js";
import { ContractError, toCtkError } from "./errors.js";
import { fetchComputeTokenEvents, decodeComputeTokenLogs } from "./events.js";
import { CHUNK_GAS_BUDGET, GAS_MARGIN_PERCENT, TX_GAS_CAP, chunkBatchRef, chunkByGas, isBatchOfRun, matchLandedRows, normalizeRunName, type GrantRowKey } from "./grantRows.js";
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

/** The on-chain key of a resolved row (grantRows.ts). */
export const grantRowKeyOf = (r: ResolvedGrantRow): GrantRowKey => ({ recipient: r.wallet, tokenId: r.lotId, amount: r.units });

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

// ───────────────────────────── runs ─────────────────────────────

/** keccak256 of the file's exact bytes (shown for reference; idempotency does not depend on it). */
export const grantFileHash = (content: string | Uint8Array): Hex =>
  keccak256(typeof content === "string" ? toBytes(content) : content);

/** Rows in the order they are sent: by lot (so a chunk touches few lots), then by line. */
const byLotThenLine = (a: ResolvedGrantRow, b: ResolvedGrantRow) => (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : a.line - b.line);

/**
 * What the grant batches of a run minted so far, one entry per mint: the TransferSingle mints in the
 * transactions of the run's BatchGranted events. A row refused by its recipient contract (GrantRefused)
 * was not minted and so is not among them.
 */
export async function findRunMints(client: CtkClient, run: string): Promise<GrantRowKey[]> {
  normalizeRunName(run);
  try {
    const latest = await client.publicClient.getBlockNumber({ cacheTime: 0 }); // never a cached head: a batch may have just landed
    const batches = await fetchComputeTokenEvents({
      publicClient: client.publicClient,
      address: client.computeToken.address,
      names: ["BatchGranted"],
      fromBlock: BigInt(client.deployment.deployBlock),
      toBlock: latest,
    });
    const txs = [...new Set(batches.filter((e) => isBatchOfRun(e.args.batchRef, run)).map((e) => e.transactionHash))];
    const receipts = await Promise.all(txs.map((hash) => client.publicClient.getTransactionReceipt({ hash })));
    const token = client.computeToken.address.toLowerCase();
    return receipts.flatMap((rc) =>
      decodeComputeTokenLogs(rc.logs.filter((l) => l.address.toLowerCase() === token), ["TransferSingle"])
        .filter((e) => /^0x0{40}$/i.test(e.args.from))
        .map((e) => ({ recipient: e.args.to, tokenId: e.args.id, amount: e.args.value })),
    );
  } catch (e) {
    throw await toCtkError(client, e);
  }
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
  /** The payroll run the rows belong to. */
  run: string;
  fileHash: Hex;
  /** Rows that parsed (all of them when `problems` is empty). */
  rows: GrantRow[];
  /** Every problem found, by line. Non-empty: nothing may be sent. */
  problems: RowProblem[];
  /** Rows of this run already on chain. */
  granted: ResolvedGrantRow[];
  /** Rows still to send, by lot then line (empty when there are problems). */
  pending: ResolvedGrantRow[];
  /** Totals per class over the pending rows. */
  totals: ClassTotal[];
  /** The chain time rows were checked against. */
  checkedAt: bigint;
}

export interface PrepareOptions {
  /** The payroll run's name (e.g. "2026-11"): a row lands once per run. */
  run: string;
}

/**
 * Parses and checks a grants file against the chain and finds which of its rows the run already
 * granted. Read-only: a dry run is this and nothing more.
 */
export async function prepareGrants(
  client: CtkClient,
  content: string | Uint8Array,
  opts: PrepareOptions,
): Promise<GrantPlan> {
  const run = normalizeRunName(opts.run);
  const fileHash = grantFileHash(content);
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  const { rows, problems } = parseGrantsCsv(text);
  let classes: ClassInfo[];
  let now: bigint;
  let mints: GrantRowKey[];
  try {
    [classes, now, mints] = await Promise.all([listClasses(client), chainTime(client), findRunMints(client, run)]);
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
  const split = matchLandedRows(resolved.map((r) => ({ ...r, ...grantRowKeyOf(r) })), mints);
  const strip = ({ recipient: _r, tokenId: _t, amount: _a, ...r }: ResolvedGrantRow & GrantRowKey): ResolvedGrantRow => r;
  const plan: GrantPlan = {
    run,
    fileHash,
    rows,
    problems,
    granted: split.landed.map(strip),
    pending: split.pending.map(strip).sort(byLotThenLine),
    totals: [],
    checkedAt: now,
  };

  // Chain checks on every row that would be sent (or on every parsed row when the file is already bad).
  const toCheck = problems.length ? resolved : plan.pending;
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
  if (problems.length) plan.pending = [];
  plan.totals = totalsByClass(plan.pending);
  return plan;
}

// ───────────────────────────── sending ─────────────────────────────

export interface GrantProgress {
  rowsDone: number;
  rowsTotal: number;
}

export interface SendGrantsOptions {
  onProgress?: (p: GrantProgress) => void;
  /** Transactions sent ahead of their receipts (default 4). 1 = one at a time. */
  inFlight?: number;
  /** Most rows per transaction (default MAX_BATCH); chunks are also cut to fit the gas cap. */
  batchSize?: number;
  /** How long to wait for the account's earlier transactions to be mined (default 60 s). */
  pendingWaitMs?: number;
}

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

export class PendingTransactionsError extends Error {
  constructor(
    readonly account: Address,
    readonly pending: number,
  ) {
    super(`${pending} earlier transaction(s) from ${account} are still pending; wait for them to be mined, then run again`);
    this.name = "PendingTransactionsError";
  }
}

/** Waits until every transaction the account sent is mined (an interrupted run's may still land). */
async function waitForNoPending(client: CtkClient, account: Address, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [mined, pending] = await Promise.all([
      client.publicClient.getTransactionCount({ address: account, blockTag: "latest" }),
      client.publicClient.getTransactionCount({ address: account, blockTag: "pending" }),
    ]);
    if (pending <= mined) return mined;
    if (Date.now() >= deadline) throw new PendingTransactionsError(account, pending - mined);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Sends the plan's pending rows (HR role). Before sending it waits for the account's transactions in
 * flight and reads again which rows of the run landed, so a stale plan or an interrupted run never
 * pays a row twice. Chunks hold at most `batchSize` rows and fit the per-transaction gas cap (by
 * estimate, with a 25 % margin). On the first failure it waits for what is in flight and throws;
 * running again resumes with the rows still missing.
 */
export async function sendGrants(client: CtkClient, plan: GrantPlan, opts: SendGrantsOptions = {}): Promise<GrantResult> {
  if (plan.problems.length) throw new Error(`the file has ${plan.problems.length} problem(s): nothing may be sent`);
  const w = requireWriter(client);
  const inFlight = Math.max(1, opts.inFlight ?? 4);
  const batchSize = opts.batchSize ?? MAX_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new RangeError(`batch size must be 1..${MAX_BATCH}`);
  const result: GrantResult = { batchesSent: 0, rowsMinted: 0, unitsMinted: 0n, rowsSkipped: 0, refused: [], gasUsed: 0n, transactions: [] };

  let nonce: number;
  let rows: ResolvedGrantRow[];
  try {
    nonce = await waitForNoPending(client, w.account.address, opts.pendingWaitMs ?? 60_000);
    const fresh = matchLandedRows(plan.pending.map((r) => ({ ...r, ...grantRowKeyOf(r) })), await findRunMints(client, plan.run));
    result.rowsSkipped = fresh.landed.length;
    const still = new Set(fresh.pending.map((r) => r.line));
    rows = plan.pending.filter((r) => still.has(r.line));
  } catch (e) {
    if (e instanceof PendingTransactionsError) throw e;
    throw await toCtkError(client, e);
  }
  const argsOf = (chunk: readonly ResolvedGrantRow[]) =>
    [
      chunkBatchRef(plan.run, chunk.map(grantRowKeyOf)),
      chunk.map((r) => r.wallet),
      chunk.map((r) => r.lotId),
      chunk.map((r) => r.units),
    ] as const satisfies readonly [Hex, Address[], bigint[], bigint[]];
  const estimates = new Map<readonly ResolvedGrantRow[], bigint>();
  const gasOf = async (chunk: readonly ResolvedGrantRow[]): Promise<bigint> => {
    try {
      const gas = await w.publicClient.estimateContractGas({ ...client.computeToken, functionName: "grantBatch", args: argsOf(chunk), account: w.account });
      estimates.set(chunk, gas);
      return gas;
    } catch (e) {
      // Over the node's own cap: certainly over budget.
      if (/gas (limit|cap)|exceeds|too high/i.test(String((e as Error)?.message))) return TX_GAS_CAP;
      throw await toCtkError(client, e, { functionName: "grantBatch" });
    }
  };
  const chunks = await chunkByGas(rows, { maxRows: batchSize, gasBudget: CHUNK_GAS_BUDGET, gasOf });

  const rowsTotal = rows.length;
  let rowsDone = 0;
  const report = () => opts.onProgress?.({ rowsDone, rowsTotal });
  const window: Promise<void>[] = [];
  let failure: unknown;
  const settle = async (chunk: ResolvedGrantRow[], hash: Hex, args: ReturnType<typeof argsOf>) => {
    try {
      const receipt = await waitForSuccess(client, hash, { functionName: "grantBatch", args });
      const token = client.computeToken.address.toLowerCase();
      const refused = decodeComputeTokenLogs(receipt.logs.filter((l) => l.address.toLowerCase() === token), ["GrantRefused"]).map((e) => ({
        wallet: e.args.recipient,
        lotId: e.args.lotId,
        units: e.args.amount,
      }));
      result.batchesSent++;
      result.rowsMinted += chunk.length - refused.length;
      result.unitsMinted += chunk.reduce((s, r) => s + r.units, 0n) - refused.reduce((s, r) => s + r.units, 0n);
      result.refused.push(...refused);
      result.gasUsed += receipt.gasUsed;
      result.transactions.push(hash);
    } catch (e) {
      if (e instanceof ContractError && e.errorName === "BatchAlreadyGranted") result.rowsSkipped += chunk.length;
      else failure ??= e;
    }
    rowsDone += chunk.length;
    report();
  };

  for (const chunk of chunks) {
    if (failure) break;
    const args = argsOf(chunk);
    const estimate = estimates.get(chunk) ?? (await gasOf(chunk));
    const margin = (estimate * GAS_MARGIN_PERCENT) / 100n;
    let hash: Hex;
    try {
      hash = await submitComputeToken(client, "grantBatch", args, { nonce, gas: margin < TX_GAS_CAP ? margin : TX_GAS_CAP });
    } catch (e) {
      if (e instanceof ContractError && e.errorName === "BatchAlreadyGranted") {
        result.rowsSkipped += chunk.length;
        rowsDone += chunk.length;
        report();
        continue;
      }
      failure = e;
      break;
    }
    nonce++;
    const p = settle(chunk, hash, args);
    window.push(p);
    p.finally(() => window.splice(window.indexOf(p), 1));
    if (window.length >= inFlight) await Promise.race(window);
  }
  await Promise.all(window);
  if (failure) throw failure;
  return result;
}
