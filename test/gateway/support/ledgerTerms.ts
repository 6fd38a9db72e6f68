/** The price table, limits and start time the ledger tests hold and charge with. */
import type { Limits } from "../../../gateway/ledger/ledger.js";
import type { PriceBook } from "../../../gateway/metering/quote.js";

export const BOOK: PriceBook = {
  version: 3n,
  models: new Map([["m", { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n }]]),
  fees: [0n, 0n, 2_000n, 10_000n],
};
export const LIMITS: Limits = { requestsPerMinute: 100_000, tokensPerMinute: 100_000_000, creditsPerDay: 10n ** 15n };
export const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
