/**
 * Credits spent per model. The chain sees only amounts per authorization (UsageCharged); the model of
 * each request is in the gateway's usage records. Once the records are verified against the on-chain
 * batch roots (verifyUsage.ts), each on-chain charge is shared out over the records of its batch and
 * authorization, in the records' order: a record gets its charge while the amount taken lasts (a
 * charge cut short by the cap or the balance leaves the last records of the batch unpaid). The month is
 * the settlement's, as for the other credit totals, so per-model spending adds up to "spent".
 */
import type { Address } from "viem";
import { type CreditCharge, monthOfTimestamp } from "./audit.js";
import type { BatchedUsage } from "./verifyUsage.js";

export interface ModelSpend {
  model: string;
  requests: number;
  tokensIn: number;
  tokensOut: number;
  /** Base units the records asked for. */
  requested: bigint;
  /** Base units taken on-chain. */
  spent: bigint;
}

/** One holder's spending on one model in one month. */
export interface HolderModelSpend extends ModelSpend {
  holder: Address;
  month: string;
}

export interface SpendByModel {
  models: ModelSpend[];
  /** By holder, month, then model. */
  holders: HolderModelSpend[];
}

const empty = (model: string): ModelSpend => ({ model, requests: 0, tokensIn: 0, tokensOut: 0, requested: 0n, spent: 0n });

function add(into: ModelSpend, r: BatchedUsage, spent: bigint): void {
  into.requests++;
  into.tokensIn += r.tokensIn;
  into.tokensOut += r.tokensOut;
  into.requested += r.charge;
  into.spent += spent;
}

/** Shares each on-chain charge out over its verified records (see the module comment). */
export function spendByModel(usage: readonly BatchedUsage[], charges: readonly CreditCharge[]): SpendByModel {
  const recordsOf = new Map<string, BatchedUsage[]>();
  for (const r of usage) {
    const k = `${r.batchId.toLowerCase()}|${r.authId.toLowerCase()}`;
    recordsOf.set(k, [...(recordsOf.get(k) ?? []), r]);
  }
  const models = new Map<string, ModelSpend>();
  const holders = new Map<string, HolderModelSpend>();
  for (const c of charges) {
    let left = c.charged;
    const month = monthOfTimestamp(c.timestamp);
    for (const r of recordsOf.get(`${c.batchId.toLowerCase()}|${c.authId.toLowerCase()}`) ?? []) {
      const spent = r.charge < left ? r.charge : left;
      left -= spent;
      const m = models.get(r.model) ?? empty(r.model);
      add(m, r, spent);
      models.set(r.model, m);
      const hk = `${c.holder}|${month}|${r.model}`;
      const h = holders.get(hk) ?? { holder: c.holder, month, ...empty(r.model) };
      add(h, r, spent);
      holders.set(hk, h);
    }
  }
  const by =
    <T>(key: (t: T) => string) =>
    (a: T, b: T) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  return {
    models: [...models.values()].sort(by((m) => m.model)),
    holders: [...holders.values()].sort(by((h) => `${h.holder.toLowerCase()}|${h.month}|${h.model}`)),
  };
}
