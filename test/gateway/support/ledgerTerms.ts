/** The price table, limits, start time and accounts the ledger tests hold and charge with. */
import { expect } from "chai";
import { GatewayError } from "../../../gateway/errors.js";
import type { HoldParams, Ledger, Limits } from "../../../gateway/ledger/ledger.js";
import { type PriceBook, quoteFor } from "../../../gateway/metering/quote.js";

export const BOOK: PriceBook = {
  version: 3n,
  models: new Map([["m", { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n }]]),
  fees: [0n, 0n, 2_000n, 10_000n],
};
export const LIMITS: Limits = { requestsPerMinute: 100_000, tokensPerMinute: 100_000_000, creditsPerDay: 10n ** 15n };
export const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
/** Model "m" at the normal tier. */
export const QUOTE = quoteFor(BOOK, "m", "normal")!;

/** A holder with one authorization (nonce 1, any model, a day to run from T0, or from `at`). */
export interface TestAccount {
  holder: string;
  authId: string;
  balance: bigint;
  cap: bigint;
  at?: number;
}

export async function addTestAccount(ledger: Ledger, a: TestAccount): Promise<void> {
  await ledger.addAuthorization(
    {
      authId: a.authId,
      holder: a.holder,
      nonce: 1n,
      cap: a.cap,
      expiresAt: BigInt(Math.floor((a.at ?? T0) / 1000) + 86_400),
      models: [],
      signature: "0x",
      document: "{}",
      charged: 0n,
      activated: false,
    },
    a.balance,
    a.at ?? T0,
  );
}

/** A hold of a full request (20 tokens in, 30 out) as the gateway asks it: with what the key says of its authorization (the grouped statement first). */
export function holdParams(a: { holder: string; authId: string }, requestId: string, over: Partial<HoldParams> = {}): HoldParams {
  return {
    requestId,
    keyId: "k1",
    authId: a.authId,
    model: "m",
    tier: "normal",
    inputTokens: 20,
    maxTokens: 30,
    modelMaxTokens: 64,
    quote: QUOTE,
    limits: LIMITS,
    replica: "r1",
    now: T0 + 1,
    key: { holder: a.holder, nonce: 1n, expiresAt: BigInt(T0 / 1000 + 86_400), models: [] },
    ...over,
  };
}

/** The ledger's refusal of `p` (a {@link GatewayError}); fails when it is not refused. */
export async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error("expected a refusal");
}
