/**
 * Credit grants from a payroll file (`credits.csv`: employee_id,wallet,credits,expires_at,transferable).
 *
 * The same checks and the same run engine as GPU-hour grants (../grants.ts): every row on its own
 * (address, amount, expiry, duplicates, one wallet per employee; ../payrollFile.ts), then against the
 * chain (onboarded, expiry in the future, room in the holder's 8 buckets).
 *
 * Idempotency is per row of a named run (`run`, e.g. "credits-2026-11"), exactly as for GPU-hours
 * (../grantRows.ts, ../grantRun.ts): a row is (wallet, bucket, amount), where the bucket is the
 * expiry and policy ({@link creditBucketId}); a chunk's batchRef is runTag(run, "credit-run") ‖ the
 * hash of its rows; the rows a run landed are read back from the Transfer mints in the transactions
 * of its CreditsGranted batches. Re-running a file — re-encoded, with another batch size or a row
 * removed — never pays a row twice, and an interrupted run resumes. One `grantBatch` takes one bucket,
 * so a chunk never mixes two.
 */
import type { Address, Hex, TransactionReceipt } from "viem";
import { type CtkClient, chainTime } from "../client.js";
import { toCtkError } from "../errors.js";
import { parseExpiry, parseTransferable } from "../format.js";
import { type GrantRunPlan, planGrantRun } from "../grantPlan.js";
import { type GrantRowKey, normalizeRunName } from "../grantRows.js";
import { type GrantRunResult, type GrantRunToken, type SendGrantRunOptions, findRunMints, sendGrantRun } from "../grantRun.js";
import { grantFileHash } from "../grants.js";
import type { RowProblem } from "../holders.js";
import { parsePayrollCsv } from "../payrollFile.js";
import { creditContract } from "./contract.js";
import { creditEventsOfReceipt, fetchCreditEvents } from "./events.js";
import { parseCredits } from "./units.js";
import { creditWriteHandle } from "./write.js";

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

/** Checks each row on its own and against the others; chain state is not consulted. */
export function parseCreditGrantsCsv(text: string): { rows: CreditGrantRow[]; problems: RowProblem[] } {
  return parsePayrollCsv(
    text,
    CREDIT_GRANT_COLUMNS,
    (row) => {
      const amount = row.attempt(() => parseCredits(row.field("credits"), "credits"));
      const expiresAt = row.attempt(() => parseExpiry(row.field("expires_at")));
      const policy = row.attempt(() => parseTransferable(row.field("transferable")));
      if (amount !== undefined && amount > 2n ** 96n - 1n) {
        row.problem(`credits "${row.field("credits")}" is too large`);
        return undefined;
      }
      return amount !== undefined && expiresAt !== undefined && policy ? { amount, expiresAt, transferable: policy === "transferable" } : undefined;
    },
    (f) => [f.amount, f.expiresAt, f.transferable].join("|"),
  );
}

// ───────────────────────────── runs ─────────────────────────────

/** A bucket (expiry, policy) as one number, the "token id" of a credit row's key: expiresAt × 2 + transferable. */
export const creditBucketId = (expiresAt: bigint, transferable: boolean): bigint => expiresAt * 2n + (transferable ? 1n : 0n);

/** The on-chain key of a row (../grantRows.ts). */
export const creditGrantRowKey = (r: CreditGrantRow): GrantRowKey => ({ recipient: r.wallet, tokenId: creditBucketId(r.expiresAt, r.transferable), amount: r.amount });

/**
 * InferenceCredit's grant runs (../grantRun.ts): a run's batches are its CreditsGranted events; a
 * row's mint is a Transfer from the zero address before its batch's CreditsGranted in the same
 * transaction, in the bucket that event names.
 */
export function creditGrantRuns(client: CtkClient): GrantRunToken<CreditGrantRow> {
  const contract = creditWriteHandle(client);
  return {
    domain: "credit-run",
    contract,
    batches: async (c, toBlock) =>
      (await fetchCreditEvents({ publicClient: c.publicClient, address: contract.address, fromBlock: BigInt(c.deployment.deployBlock), toBlock }))
        .filter((e) => e.eventName === "CreditsGranted")
        .map((e) => ({ batchRef: (e as { args: { batchRef: Hex } }).args.batchRef, transactionHash: e.transactionHash })),
    mints: (receipt: TransactionReceipt) => {
      const out: GrantRowKey[] = [];
      let minted: { recipient: Address; amount: bigint }[] = [];
      for (const e of creditEventsOfReceipt(receipt, contract.address)) {
        if (e.eventName === "Transfer" && /^0x0{40}$/i.test(e.args.from)) minted.push({ recipient: e.args.to, amount: e.args.value });
        if (e.eventName === "CreditsGranted") {
          const bucket = creditBucketId(BigInt(e.args.expiresAt), e.args.transferable);
          out.push(...minted.map((m) => ({ ...m, tokenId: bucket })));
          minted = [];
        }
      }
      return out;
    },
    keyOf: creditGrantRowKey,
    groupOf: (r) => `${r.expiresAt}|${r.transferable}`,
    argsOf: (batchRef, chunk) => [batchRef, Number(chunk[0].expiresAt), chunk[0].transferable, chunk.map((r) => r.wallet), chunk.map((r) => r.amount)],
  };
}

export interface CreditBucketTotal {
  expiresAt: bigint;
  transferable: boolean;
  rows: number;
  recipients: number;
  amount: bigint;
}

/** Totals per bucket (expiry, policy), soonest first. */
export function totalsByBucket(rows: readonly CreditGrantRow[]): CreditBucketTotal[] {
  const m = new Map<bigint, { expiresAt: bigint; transferable: boolean; rows: number; wallets: Set<string>; amount: bigint }>();
  for (const r of rows) {
    const id = creditBucketId(r.expiresAt, r.transferable);
    const t = m.get(id) ?? { expiresAt: r.expiresAt, transferable: r.transferable, rows: 0, wallets: new Set(), amount: 0n };
    t.rows++;
    t.wallets.add(r.wallet.toLowerCase());
    t.amount += r.amount;
    m.set(id, t);
  }
  return [...m]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, t]) => ({ expiresAt: t.expiresAt, transferable: t.transferable, rows: t.rows, recipients: t.wallets.size, amount: t.amount }));
}

/** Rows in the order they are sent: by bucket (one grantBatch takes one), then by line. */
const byBucketThenLine = (a: CreditGrantRow, b: CreditGrantRow) => {
  const [x, y] = [creditBucketId(a.expiresAt, a.transferable), creditBucketId(b.expiresAt, b.transferable)];
  return x < y ? -1 : x > y ? 1 : a.line - b.line;
};

/** A credits file checked against the chain: pending rows by bucket then line, totals per bucket. */
export type CreditGrantPlan = GrantRunPlan<CreditGrantRow, CreditGrantRow, CreditBucketTotal>;

/** Parses and checks a credits file against the chain and finds which of its rows the run already granted. Read-only. */
export async function prepareCreditGrants(client: CtkClient, content: string | Uint8Array, opts: { run: string }): Promise<CreditGrantPlan> {
  const run = normalizeRunName(opts.run);
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  const { rows, problems } = parseCreditGrantsCsv(text);
  const credit = creditContract(client);
  let now: bigint;
  let mints: GrantRowKey[];
  try {
    [now, mints] = await Promise.all([chainTime(client), findRunMints(client, creditGrantRuns(client), run)]);
  } catch (e) {
    throw await toCtkError(client, e, { contractName: "InferenceCredit" });
  }
  return planGrantRun(client, {
    run,
    fileHash: grantFileHash(content),
    rows,
    problems,
    sendable: rows,
    mints,
    keyOf: creditGrantRowKey,
    order: byBucketThenLine,
    now,
    checks: async (toCheck) => {
      // Room in each holder's buckets: live buckets (expired ones are swept on the way) plus the new keys.
      const wallets = [...new Set(toCheck.map((r) => r.wallet))];
      let buckets: (readonly { expiresAt: number; transferable: boolean }[])[];
      try {
        buckets = await Promise.all(wallets.map((w) => client.publicClient.readContract({ ...credit, functionName: "bucketsOf", args: [w] })));
      } catch (e) {
        throw await toCtkError(client, e, { functionName: "bucketsOf", contractName: "InferenceCredit" });
      }
      const keysOf = new Map(wallets.map((w, i) => [w, new Set(buckets[i].filter((b) => BigInt(b.expiresAt) > now).map((b) => `${b.expiresAt}|${b.transferable}`))]));
      return (r, problem) => {
        if (r.expiresAt <= now) return;
        const keys = keysOf.get(r.wallet)!;
        keys.add(`${r.expiresAt}|${r.transferable}`);
        if (keys.size > MAX_BUCKETS) problem(`wallet ${r.wallet} would hold more than ${MAX_BUCKETS} live credit buckets (expiry × policy)`);
      };
    },
    totals: totalsByBucket,
  });
}

/**
 * Sends the plan's pending rows (HR role) through ../grantRun.ts: the landed rows are read again
 * first, so a stale plan or an interrupted run never pays a row twice; running again resumes.
 */
export async function sendCreditGrants(client: CtkClient, plan: CreditGrantPlan, opts: SendGrantRunOptions = {}): Promise<GrantRunResult> {
  if (plan.problems.length) throw new Error(`the file has ${plan.problems.length} problem(s): nothing may be sent`);
  return sendGrantRun(client, creditGrantRuns(client), plan.run, plan.pending, opts);
}
