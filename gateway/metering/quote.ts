/**
 * Binds the on-chain price table to one request (model, tier): its cost for given token counts —
 * the SDK's charge formula — and the inverse the hold needs: the most output tokens a budget affords.
 */
import { chargeFor } from "../../sdk/credits/price.js";
import type { Quote, Tier } from "../ledger/ledger.js";
import { TIERS } from "../ledger/ledger.js";

export interface ModelPrice {
  inputPerMTok: bigint;
  outputPerMTok: bigint;
  requestCharge: bigint;
}

/** The price table at one version, as read from InferenceCredit. */
export interface PriceBook {
  version: bigint;
  models: ReadonlyMap<string, ModelPrice>;
  /** Base units per request for low, normal, high, urgent. */
  fees: readonly bigint[];
}

const MILLION = 1_000_000n;
const MAX_TOKENS = 2 ** 31 - 1;

export function quoteFor(book: PriceBook, model: string, tier: Tier): Quote | undefined {
  const price = book.models.get(model);
  if (!price) return undefined;
  const fee = book.fees[TIERS.indexOf(tier)] ?? 0n;
  return {
    priceVersion: book.version,
    cost: (inputTokens, outputTokens) => chargeFor({ inputTokens, outputTokens, tier }, price, book.fees),
    maxOutputFor(inputTokens, budget) {
      // charge = ceil((in·Cin + out·Cout) / 1e6) + requestCharge + fee ≤ budget
      //   ⟺ in·Cin + out·Cout ≤ (budget − requestCharge − fee) · 1e6
      const room = (budget - price.requestCharge - fee) * MILLION - BigInt(inputTokens) * price.inputPerMTok;
      if (room < 0n) return -1;
      if (price.outputPerMTok === 0n) return MAX_TOKENS;
      const out = room / price.outputPerMTok;
      return out > BigInt(MAX_TOKENS) ? MAX_TOKENS : Number(out);
    },
  };
}
