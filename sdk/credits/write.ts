/**
 * Sending InferenceCredit transactions, through the one writer of ../write.ts (typed from the ABI,
 * waiting for the receipt, one {@link ContractError} sentence naming InferenceCredit on failure).
 */
import type { Address, Hex, TransactionReceipt } from "viem";
import type { CtkClient } from "../client.js";
import type { inferenceCreditAbi } from "../generated/abi.js";
import { TX_GAS_CAP } from "../grantRows.js";
import { type ContractHandle, type SubmitOptions, type WriteArgs, type WriteName, writeAndWait } from "../write.js";
import { type Authorization, toSignedAuthorizationArg } from "./authorization.js";
import { creditContract } from "./contract.js";

type Abi = typeof inferenceCreditAbi;
export type InferenceCreditWriteName = WriteName<Abi>;
export type InferenceCreditWriteArgs<F extends InferenceCreditWriteName> = WriteArgs<Abi, F>;

/** The deployment's InferenceCredit as a {@link ContractHandle} (errors name it). */
export const creditWriteHandle = (client: CtkClient): ContractHandle<Abi> => ({ ...creditContract(client), contractName: "InferenceCredit" });

/** Sends, waits, and returns the receipt; a reverted transaction is replayed to name its error. */
export const writeInferenceCredit = <const F extends InferenceCreditWriteName>(
  client: CtkClient,
  functionName: F,
  args: InferenceCreditWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<TransactionReceipt> => writeAndWait(client, { contract: creditWriteHandle(client), functionName, args }, opts);

export interface CreditGrant {
  batchRef: Hex;
  expiresAt: bigint;
  transferable: boolean;
  to: readonly Address[];
  amounts: readonly bigint[];
}

/** HR: one `grantBatch` (one expiry and policy). */
export const grantCredits = (client: CtkClient, g: CreditGrant, opts?: SubmitOptions) =>
  writeInferenceCredit(client, "grantBatch", [g.batchRef, Number(g.expiresAt), g.transferable, [...g.to], [...g.amounts]], opts);

/** HR: burns all of a holder's credits. */
export const clawbackCredits = (client: CtkClient, holder: Address) => writeInferenceCredit(client, "clawback", [holder]);

/** Holder: revokes the authorization given to `gateway` under `nonce`. */
export const revokeAuthorization = (client: CtkClient, gateway: Address, nonce: bigint) => writeInferenceCredit(client, "revokeAuthorization", [gateway, nonce]);

/** Holder: moves transferable credits (soonest-expiring first) to another holder. */
export const transferCredits = (client: CtkClient, to: Address, amount: bigint) => writeInferenceCredit(client, "transfer", [to, amount]);

/** Operations: sets (or, all zero, removes) a model's prices, base units. */
export const setModelPrice = (client: CtkClient, model: string, p: { inputPerMTok: bigint; outputPerMTok: bigint; requestCharge: bigint }) =>
  writeInferenceCredit(client, "setModelPrice", [model, p.inputPerMTok, p.outputPerMTok, p.requestCharge]);

export interface UsageBatch {
  batchId: Hex;
  priceVersion: bigint;
  usageRoot: Hex;
  activations: readonly { authorization: Authorization; signature: Hex }[];
  charges: readonly { holder: Address; nonce: bigint; amount: bigint }[];
}

/**
 * The most charges (authorizations) one `settleUsage` batch carries, each possibly with its
 * activation: far under the contract's MAX_BATCH (256), and within one transaction's gas cap with
 * every charge the costliest (about 78,000 gas) and activated (a typical charge with its activation
 * measures 57,000: bench/RESULTS.md). A gateway's batch stops taking records there.
 */
export const SETTLE_USAGE_MAX_CHARGES = 100;

/** What {@link settleUsageGasBound} allows for the batch itself and for each charge. */
export const SETTLE_USAGE_BASE_GAS = 100_000n;
export const SETTLE_USAGE_CHARGE_GAS = 90_000n;

/**
 * A gas limit that covers a `settleUsage` batch with no activations whatever the holders' state, so
 * the gateway need not have the node run the batch once more to estimate it (on anvil that doubled
 * the chain's work per settlement): 100,000 + 90,000 per charge. The costliest charges read all
 * eight of their holder's buckets and empty some (the first, all eight, or seven; or one expired and
 * the seven others, the rest owed as usage debt), under an authorization cold in the transaction: at
 * most about 78,000 gas each, and the batch around them
 * about 70,000 (test/contracts/creditsSettlement.test.ts holds the bound against each case, for
 * 1, 16 and the most charges the bound allows). Unused gas is not paid.
 * Undefined, to estimate instead, when the batch activates authorizations (checking a signature runs
 * the holder's own code when the holder is a contract wallet) or the bound passes one transaction's
 * gas cap.
 */
export function settleUsageGasBound(b: { activations: readonly unknown[]; charges: readonly unknown[] }): bigint | undefined {
  if (b.activations.length > 0 || b.charges.length === 0) return undefined;
  const gas = SETTLE_USAGE_BASE_GAS + BigInt(b.charges.length) * SETTLE_USAGE_CHARGE_GAS;
  return gas <= TX_GAS_CAP ? gas : undefined;
}

/** Gateway: settles a batch of usage (activating new authorizations first). */
export const settleUsage = (client: CtkClient, b: UsageBatch, opts?: SubmitOptions) =>
  writeInferenceCredit(
    client,
    "settleUsage",
    [b.batchId, b.priceVersion, b.usageRoot, b.activations.map((a) => toSignedAuthorizationArg(a.authorization, a.signature)), b.charges.map((c) => ({ ...c }))],
    opts,
  );
