/** Reading InferenceCredit: balances, buckets, usage debt, prices, authorizations. */
import type { Address, Hex } from "viem";
import type { CtkClient } from "../client.js";
import { toCtkError } from "../errors.js";
import { creditContract } from "./contract.js";
import type { ModelPrice } from "./price.js";
import { formatCredits } from "./units.js";

export interface CreditBucket {
  amount: bigint;
  expiresAt: bigint;
  transferable: boolean;
  /** Expired at `now` (still held until someone sweeps it). */
  expired: boolean;
}

export const AUTHORIZATION_STATUSES = ["none", "active", "revoked"] as const;
export type AuthorizationStatusName = (typeof AUTHORIZATION_STATUSES)[number];

export interface AuthorizationState {
  cap: bigint;
  charged: bigint;
  /** Its end (s): the signed expiry, or the revocation if sooner; charged until SETTLEMENT_GRACE after it. */
  expiresAt: bigint;
  status: AuthorizationStatusName;
}

async function read<T>(client: CtkClient, functionName: string, args: readonly unknown[]): Promise<T> {
  try {
    return (await client.publicClient.readContract({ ...creditContract(client), functionName, args } as never)) as T;
  } catch (e) {
    throw await toCtkError(client, e, { functionName, contractName: "InferenceCredit" });
  }
}

/** Unexpired credits, base units. */
export const readCreditBalance = (client: CtkClient, holder: Address): Promise<bigint> => read(client, "balanceOf", [holder]);

/** The holder's buckets, soonest expiry first; `now` (unix seconds) marks the expired ones. */
export async function readCreditBuckets(client: CtkClient, holder: Address, now: bigint): Promise<CreditBucket[]> {
  const raw = await read<readonly { amount: bigint; expiresAt: number; transferable: boolean }[]>(client, "bucketsOf", [holder]);
  return raw.map((b) => ({ amount: b.amount, expiresAt: BigInt(b.expiresAt), transferable: b.transferable, expired: BigInt(b.expiresAt) <= now }));
}

/**
 * What the holder owes for usage served but not paid when its batch landed (its credits had moved out or
 * expired in between), base units; the next credits it receives pay it first.
 */
export const readUsageDebt = (client: CtkClient, holder: Address): Promise<bigint> => read(client, "usageDebtOf", [holder]);

/** A usage debt as the CLI and the web app say it: "owes 0.002102 for usage served before (…)". */
export const usageDebtText = (debt: bigint): string => `owes ${formatCredits(debt)} for usage served before (paid from the next credits received)`;

export async function readModelPrice(client: CtkClient, model: string): Promise<ModelPrice> {
  const p = await read<{ inputPerMTok: bigint; outputPerMTok: bigint; requestCharge: bigint; listed: boolean }>(client, "modelPrice", [model]);
  return { inputPerMTok: p.inputPerMTok, outputPerMTok: p.outputPerMTok, requestCharge: p.requestCharge, listed: p.listed };
}

/** Fees per priority tier (low, normal, high, urgent), base units. */
export async function readPriorityFees(client: CtkClient): Promise<[bigint, bigint, bigint, bigint]> {
  return [...(await read<readonly bigint[]>(client, "priorityFees", []))] as [bigint, bigint, bigint, bigint];
}

export const readPriceVersion = (client: CtkClient): Promise<bigint> => read(client, "priceVersion", []);

export async function readAuthorization(client: CtkClient, authId: Hex): Promise<AuthorizationState> {
  const a = await read<{ cap: bigint; charged: bigint; expiresAt: number; status: number }>(client, "authorizationOf", [authId]);
  return { cap: a.cap, charged: a.charged, expiresAt: BigInt(a.expiresAt), status: AUTHORIZATION_STATUSES[a.status] ?? "none" };
}

export const readUsageBatchSettled = (client: CtkClient, batchId: Hex): Promise<boolean> => read(client, "usageBatchSettled", [batchId]);
