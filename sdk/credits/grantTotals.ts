/**
 * Totals of a credit-grant file's rows per expiry bucket (expiry × transfer policy): what a dry run
 * shows before anything is sent. Pure.
 */
import type { CreditGrantRow } from "./grants.js";

export interface CreditGrantTotal {
  /** Unix seconds. */
  expiresAt: bigint;
  transferable: boolean;
  rows: number;
  recipients: number;
  /** Base units. */
  amount: bigint;
}

/** One total per (expiry, policy), soonest expiry first (soulbound before transferable), and the grand total. */
export function creditGrantTotals(rows: readonly CreditGrantRow[]): { buckets: CreditGrantTotal[]; total: Omit<CreditGrantTotal, "expiresAt" | "transferable"> } {
  const groups = new Map<string, { expiresAt: bigint; transferable: boolean; rows: number; wallets: Set<string>; amount: bigint }>();
  for (const r of rows) {
    const k = `${r.expiresAt}|${r.transferable}`;
    const g = groups.get(k) ?? { expiresAt: r.expiresAt, transferable: r.transferable, rows: 0, wallets: new Set<string>(), amount: 0n };
    g.rows++;
    g.wallets.add(r.wallet.toLowerCase());
    g.amount += r.amount;
    groups.set(k, g);
  }
  const buckets = [...groups.values()]
    .sort((a, b) => (a.expiresAt !== b.expiresAt ? (a.expiresAt < b.expiresAt ? -1 : 1) : Number(a.transferable) - Number(b.transferable)))
    .map(({ wallets, ...g }) => ({ ...g, recipients: wallets.size }));
  return {
    buckets,
    total: { rows: rows.length, recipients: new Set(rows.map((r) => r.wallet.toLowerCase())).size, amount: rows.reduce((s, r) => s + r.amount, 0n) },
  };
}
