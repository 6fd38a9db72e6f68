/**
 * What the ledger benchmarks (ledgerMicro.ts, ledgerIdle.ts) hold and charge: one model's prices,
 * holders `0x…0`, `0x…1`, … each with an authorization `0xa<n>` and credits that never run out,
 * limits that never refuse, and a request of 20 input tokens held for 16 output, charged 8 + 16.
 */
import type { HoldParams, Ledger } from "../gateway/ledger/ledger.js";
import { type PriceBook, quoteFor } from "../gateway/metering/quote.js";

const BOOK: PriceBook = { version: 3n, models: new Map([["m", { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n }]]), fees: [0n, 0n, 2_000n, 10_000n] };
export const BENCH_QUOTE = quoteFor(BOOK, "m", "normal")!;

export const benchHolder = (h: number): string => `0x${h.toString(16).padStart(40, "0")}`;

/** Holders 0 … count − 1, each with its authorization (its signed document: `document`). */
export async function addBenchHolders(ledger: Pick<Ledger, "addAuthorization">, count: number, now: number, document = "{}"): Promise<void> {
  for (let h = 0; h < count; h++) {
    await ledger.addAuthorization(
      {
        authId: `0xa${h}`,
        holder: benchHolder(h),
        nonce: 1n,
        cap: 10n ** 15n,
        expiresAt: BigInt(Math.floor(now / 1000) + 86_400),
        models: [],
        signature: "0x",
        document,
        charged: 0n,
        activated: false,
      },
      10n ** 15n,
      now,
    );
  }
}

/** Holder `h`'s request, with what the gateway passes from the key (PostgreSQL's one-statement hold first). */
export function benchHold(h: number, requestId: string, authorizedAt: number): HoldParams {
  return {
    requestId,
    keyId: "k",
    authId: `0xa${h}`,
    model: "m",
    tier: "normal",
    inputTokens: 20,
    maxTokens: 16,
    modelMaxTokens: 64,
    quote: BENCH_QUOTE,
    limits: { requestsPerMinute: 1e9, tokensPerMinute: 1e12, creditsPerDay: 10n ** 18n },
    replica: "r1",
    now: Date.now(),
    key: { holder: benchHolder(h), nonce: 1n, expiresAt: BigInt(Math.floor(authorizedAt / 1000) + 86_400), models: [] },
  };
}

/** The usage every benchmark request ends with. */
export const BENCH_USAGE = { tokensIn: 8, tokensOut: 16, amount: BENCH_QUOTE.cost(8, 16), ending: "ok" as const };
