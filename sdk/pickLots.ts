/**
 * Which lots a transfer or a redemption draws from: soonest-expiring first, so that what is
 * about to expire is used before what can wait. Pure.
 */
import type { LotBalance } from "./balances.js";

export interface Pick {
  lotId: bigint;
  expiresAt: bigint;
  amount: bigint;
}

export interface PickResult {
  picks: Pick[];
  /** Units available in the lots that qualified. */
  available: bigint;
}

/**
 * Takes `amount` units from `lots` that are unexpired at `now` (and, for a transfer, transferable),
 * soonest expiry first. `picks` is empty when they do not hold enough.
 */
export function pickLots(lots: readonly LotBalance[], amount: bigint, opts: { now: bigint; transferableOnly?: boolean; maxLots?: number }): PickResult {
  const usable = lots
    .filter((l) => l.balance > 0n && l.expiresAt > opts.now && (!opts.transferableOnly || l.policy === "transferable"))
    .sort((a, b) => (a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : a.policy === "soulbound" ? -1 : 1));
  const available = usable.reduce((s, l) => s + l.balance, 0n);
  const picks: Pick[] = [];
  let left = amount;
  for (const l of usable) {
    if (left === 0n) break;
    if (opts.maxLots !== undefined && picks.length === opts.maxLots) break;
    const take = l.balance < left ? l.balance : left;
    picks.push({ lotId: l.lotId, expiresAt: l.expiresAt, amount: take });
    left -= take;
  }
  return { picks: left === 0n ? picks : [], available };
}
