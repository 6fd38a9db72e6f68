/**
 * What the gateway reads from the chain: the price table (for the configured models), holders'
 * balances, and the checks behind a new API key. All through the SDK.
 */
import type { Address, Hex } from "viem";
import type { CtkClient } from "../../sdk/client.js";
import { readCreditBuckets, readModelPrice, readPriceVersion, readPriorityFees } from "../../sdk/credits/reads.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import type { ModelPrice, PriceBook } from "../metering/quote.js";
import type { Tier } from "../ledger/ledger.js";

/** Reads the price table for `models` at one consistent version (re-read if it moved meanwhile). */
export async function readPriceBook(client: CtkClient, models: readonly string[]): Promise<PriceBook> {
  for (let attempt = 0; ; attempt++) {
    const version = await readPriceVersion(client);
    const [fees, prices] = await Promise.all([readPriorityFees(client), Promise.all(models.map((m) => readModelPrice(client, m)))]);
    const again = await readPriceVersion(client);
    if (again !== version && attempt < 5) continue;
    const map = new Map<string, ModelPrice>();
    models.forEach((m, i) => {
      const p = prices[i];
      if (p.listed) map.set(m, { inputPerMTok: p.inputPerMTok, outputPerMTok: p.outputPerMTok, requestCharge: p.requestCharge });
    });
    return { version, models: map, fees };
  }
}

/** What a holder may be served against, and until when (see {@link readSpendable}). */
export interface Spendable {
  /** Credits unexpired at the later of the chain's head and the clock, base units. */
  balance: bigint;
  /** When the soonest of them expires (s), if any: the balance is to be read again then. */
  nextExpiry?: bigint;
}

/**
 * The holders' credits the gateway may serve against: those unexpired at the later of the chain's head
 * and the clock (`nowMs`), since a batch lands no earlier than either; a bucket the head still counts
 * (no block since its expiry) would be gone when the usage it served is charged, and the charge owed as
 * debt. With the soonest expiry among them, for the gateway to read the holder again at that time
 * (an expiry emits no event).
 */
export async function readSpendable(client: CtkClient, holders: readonly string[], nowMs: number): Promise<Map<string, Spendable>> {
  const head = (await client.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  const clock = BigInt(Math.floor(nowMs / 1000));
  const at = head > clock ? head : clock;
  const lists = await Promise.all(holders.map((h) => readCreditBuckets(client, h as Address, at)));
  return new Map(
    holders.map((h, i) => {
      let balance = 0n;
      let nextExpiry: bigint | undefined;
      for (const b of lists[i]) {
        if (b.expired) continue;
        balance += b.amount;
        if (nextExpiry === undefined || b.expiresAt < nextExpiry) nextExpiry = b.expiresAt;
      }
      return [h, { balance, nextExpiry }];
    }),
  );
}

export const isHolder = (client: CtkClient, account: Address): Promise<boolean> =>
  client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [account] }) as Promise<boolean>;

/** Whether InferenceCredit is paused (no new spending authorizations are taken then). */
export const isCreditPaused = (client: CtkClient): Promise<boolean> =>
  client.publicClient.readContract({ address: client.deployment.inferenceCredit!, abi: inferenceCreditAbi, functionName: "paused" }) as Promise<boolean>;

export type { Tier, Hex };
