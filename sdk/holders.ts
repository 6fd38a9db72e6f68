/**
 * The holder allow-list (HR role): onboarding from `employees.csv` (`employee_id,wallet`),
 * offboarding, and clawing back a leaver's balances.
 */
import { type Address, getAddress, isAddress } from "viem";
import type { CtkClient } from "./client.js";
import { listClasses } from "./classes.js";
import { toCtkError } from "./errors.js";
import { openCsvTable } from "./payrollFile.js";
import { writeComputeToken } from "./write.js";
import { CtkError } from "./ctkError.js";

/** Most entries per onboard / clawback / grant transaction (ComputeToken.MAX_BATCH). */
export const MAX_BATCH = 256;

export interface RowProblem {
  line: number;
  message: string;
}

export interface EmployeeRow {
  line: number;
  employeeId: string;
  wallet: Address;
}

/** A wallet as written in a file: 0x + 40 hex; mixed case must be a valid EIP-55 checksum. */
export function parseWallet(text: string): Address | string {
  const s = text.trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(s)) return `wallet "${s}" is not a 0x-prefixed 20-byte address`;
  if (!isAddress(s, { strict: true })) return `wallet "${s}" has a wrong EIP-55 checksum (mixed case); check for a typo`;
  if (/^0x0{40}$/.test(s)) return "wallet is the zero address";
  return getAddress(s);
}

export const isParsedWallet = (w: Address | string): w is Address => w.startsWith("0x") && w.length === 42;

export function parseEmployeesCsv(text: string): { rows: EmployeeRow[]; problems: RowProblem[] } {
  const problems: RowProblem[] = [];
  const rows: EmployeeRow[] = [];
  const opened = openCsvTable(text, ["employee_id", "wallet"] as const);
  if ("problems" in opened) return { rows, problems: opened.problems };
  const { table, index } = opened;
  const seenWallet = new Map<string, EmployeeRow>();
  const seenEmployee = new Map<string, EmployeeRow>();
  for (const r of table.records) {
    const employeeId = (r.fields[index.employee_id] ?? "").trim();
    const wallet = parseWallet(r.fields[index.wallet] ?? "");
    let ok = true;
    if (r.fields.length !== table.header.length) {
      problems.push({ line: r.line, message: `has ${r.fields.length} fields, the header has ${table.header.length}` });
      ok = false;
    }
    if (!employeeId) {
      problems.push({ line: r.line, message: "employee_id is empty" });
      ok = false;
    }
    if (!isParsedWallet(wallet)) {
      problems.push({ line: r.line, message: wallet });
      ok = false;
    }
    if (!ok || !isParsedWallet(wallet)) continue;
    const prevW = seenWallet.get(wallet);
    const prevE = seenEmployee.get(employeeId);
    if (prevW && prevW.employeeId === employeeId) {
      problems.push({ line: r.line, message: `duplicates line ${prevW.line}` });
      continue;
    }
    if (prevW) {
      problems.push({ line: r.line, message: `wallet ${wallet} is already employee ${prevW.employeeId} on line ${prevW.line}` });
      continue;
    }
    if (prevE) {
      problems.push({ line: r.line, message: `employee ${employeeId} already has wallet ${prevE.wallet} on line ${prevE.line}` });
      continue;
    }
    const row = { line: r.line, employeeId, wallet };
    seenWallet.set(wallet, row);
    seenEmployee.set(employeeId, row);
    rows.push(row);
  }
  if (!table.records.length && !problems.length) problems.push({ line: 1, message: "the file has no rows" });
  return { rows, problems };
}

/** Whether each address is on the allow-list. */
export async function holderStatus(client: CtkClient, wallets: readonly Address[]): Promise<Map<Address, boolean>> {
  const unique = [...new Set(wallets)];
  try {
    const flags = await Promise.all(unique.map((w) => client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [w] })));
    return new Map(unique.map((w, i) => [w, flags[i]]));
  } catch (e) {
    throw await toCtkError(client, e, { functionName: "isHolder" });
  }
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface OnboardResult {
  onboarded: Address[];
  alreadyHolders: Address[];
  /** Wallets that had been offboarded and were put back (only with `readmit`). */
  readmitted: Address[];
  transactions: `0x${string}`[];
}

/** ComputeToken.Standing */
const STANDING = { None: 0, Holder: 1, Offboarded: 2 } as const;

/** Some wallets of the list were offboarded since: an old employee list must not bring them back silently. */
export class OffboardedWalletsError extends CtkError {
  constructor(readonly wallets: Address[]) {
    super(
      `${wallets.length} wallet(s) in the list were offboarded: ${wallets.join(", ")}. Nobody was onboarded; ` +
        "remove them from the list, or re-admit them on purpose with --readmit",
    );
    this.name = "OffboardedWalletsError";
  }
}

/** Where each wallet stands on the allow-list. */
async function standingOf(client: CtkClient, wallets: readonly Address[]): Promise<Map<Address, number>> {
  const unique = [...new Set(wallets)];
  try {
    const standing = await Promise.all(unique.map((w) => client.publicClient.readContract({ ...client.computeToken, functionName: "standingOf", args: [w] })));
    return new Map(unique.map((w, i) => [w, Number(standing[i])]));
  } catch (e) {
    throw await toCtkError(client, e, { functionName: "standingOf" });
  }
}

/**
 * Onboards the wallets not yet on the allow-list, ≤ MAX_BATCH per transaction. A wallet that was
 * offboarded (a leaver, or a key recovered away from) is refused ({@link OffboardedWalletsError},
 * nothing sent) unless `readmit` says HR means it.
 */
export async function onboardHolders(
  client: CtkClient,
  wallets: readonly Address[],
  opts: { readmit?: boolean; onBatch?: (done: number, total: number) => void } = {},
): Promise<OnboardResult> {
  const standing = await standingOf(client, wallets);
  const of = (s: number) => [...standing].filter(([, v]) => v === s).map(([w]) => w);
  const fresh = of(STANDING.None);
  const offboarded = of(STANDING.Offboarded);
  const alreadyHolders = of(STANDING.Holder);
  if (offboarded.length && !opts.readmit) throw new OffboardedWalletsError(offboarded);
  const transactions: `0x${string}`[] = [];
  const total = fresh.length + offboarded.length;
  let done = 0;
  for (const [fn, list] of [
    ["onboard", fresh],
    ["readmit", offboarded],
  ] as const) {
    for (const part of chunk(list, MAX_BATCH)) {
      const receipt = await writeComputeToken(client, fn, [part]);
      transactions.push(receipt.transactionHash);
      done += part.length;
      opts.onBatch?.(done, total);
    }
  }
  return { onboarded: fresh, alreadyHolders, readmitted: offboarded, transactions };
}

export interface ClawedBack {
  lotId: bigint;
  classId: number;
  className: string;
  amount: bigint;
}

export interface OffboardResult {
  wallet: Address;
  /** False when the wallet was not on the allow-list (nothing to offboard). */
  offboarded: boolean;
  clawedBack: ClawedBack[];
}

/**
 * Takes a wallet off the allow-list and, with `clawback`, burns its whole balance in every lot
 * (expired lots included). Refunds of its redemptions still in flight are clawed back as they land.
 */
export async function offboardHolder(client: CtkClient, wallet: Address, opts: { clawback?: boolean } = {}): Promise<OffboardResult> {
  const [isHolder] = [...(await holderStatus(client, [wallet])).values()];
  if (!isHolder && !opts.clawback) {
    throw new Error(`${wallet} is not an onboarded holder: nothing to offboard`);
  }
  if (isHolder) await writeComputeToken(client, "offboard", [wallet]);
  const clawedBack: ClawedBack[] = [];
  if (opts.clawback) {
    const held = await heldLots(client, wallet);
    for (const part of chunk(held, MAX_BATCH)) {
      await writeComputeToken(client, "clawback", [wallet, part.map((l) => l.lotId)]);
      clawedBack.push(...part);
    }
  }
  return { wallet, offboarded: isHolder, clawedBack };
}

/** Every lot in which a wallet holds units, with its class. */
async function heldLots(client: CtkClient, wallet: Address): Promise<ClawedBack[]> {
  const classes = await listClasses(client);
  const lots = await Promise.all(classes.map((c) => client.publicClient.readContract({ ...client.computeToken, functionName: "lotsOfClass", args: [c.classId] })));
  const all = classes.flatMap((c, i) => lots[i].map((lotId) => ({ lotId, classId: c.classId, className: c.name })));
  if (!all.length) return [];
  const balances = await client.publicClient.readContract({
    ...client.computeToken,
    functionName: "balanceOfBatch",
    args: [all.map(() => wallet), all.map((l) => l.lotId)],
  });
  return all.map((l, i) => ({ ...l, amount: balances[i] })).filter((l) => l.amount > 0n);
}
