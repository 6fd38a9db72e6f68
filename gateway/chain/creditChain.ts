/**
 * What the gateway reads from the chain: the price table (for the configured models), holders'
 * balances, and the checks behind a new API key. All through the SDK.
 */
import type { Address, Hex } from "viem";
import type { CtkClient } from "../../sdk/client.js";
import { readCreditBalance, readModelPrice, readPriceVersion, readPriorityFees } from "../../sdk/credits/reads.js";
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

export async function readBalances(client: CtkClient, holders: readonly string[]): Promise<Map<string, bigint>> {
  const values = await Promise.all(holders.map((h) => readCreditBalance(client, h as Address)));
  return new Map(holders.map((h, i) => [h, values[i]]));
}

export const isHolder = (client: CtkClient, account: Address): Promise<boolean> =>
  client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [account] }) as Promise<boolean>;

/** Whether InferenceCredit is paused (no new spending authorizations are taken then). */
export const isCreditPaused = (client: CtkClient): Promise<boolean> =>
  client.publicClient.readContract({ address: client.deployment.inferenceCredit!, abi: inferenceCreditAbi, functionName: "paused" }) as Promise<boolean>;

export type { Tier, Hex };
