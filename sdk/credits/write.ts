/**
 * Sending InferenceCredit transactions: typed from the ABI, waiting for the receipt, failing with one
 * {@link ContractError} sentence (as ../write.ts does for ComputeToken).
 */
import type { Address, ContractFunctionArgs, ContractFunctionName, Hash, Hex, TransactionReceipt } from "viem";
import { requireWriter, type CtkClient } from "../client.js";
import { toCtkError } from "../errors.js";
import type { inferenceCreditAbi } from "../generated/abi.js";
import type { SubmitOptions } from "../write.js";
import { type Authorization, toSignedAuthorizationArg } from "./authorization.js";
import { creditContract } from "./contract.js";

type Abi = typeof inferenceCreditAbi;
export type InferenceCreditWriteName = ContractFunctionName<Abi, "nonpayable" | "payable">;
export type InferenceCreditWriteArgs<F extends InferenceCreditWriteName> = ContractFunctionArgs<Abi, "nonpayable" | "payable", F>;

/** Sends an InferenceCredit transaction and returns its hash without waiting. */
export async function submitInferenceCredit<const F extends InferenceCreditWriteName>(
  client: CtkClient,
  functionName: F,
  args: InferenceCreditWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<Hash> {
  const w = requireWriter(client);
  try {
    return await w.walletClient.writeContract({
      ...creditContract(client),
      functionName,
      args,
      account: w.account,
      chain: w.chain,
      ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      ...(opts.gas !== undefined ? { gas: opts.gas } : {}),
    } as never);
  } catch (e) {
    throw await toCtkError(client, e, { functionName });
  }
}

/** Sends, waits, and returns the receipt; a reverted transaction is replayed to name its error. */
export async function writeInferenceCredit<const F extends InferenceCreditWriteName>(
  client: CtkClient,
  functionName: F,
  args: InferenceCreditWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<TransactionReceipt> {
  const hash = await submitInferenceCredit(client, functionName, args, opts);
  let receipt: TransactionReceipt;
  try {
    receipt = await client.publicClient.waitForTransactionReceipt({ hash, pollingInterval: client.publicClient.pollingInterval });
  } catch (e) {
    throw await toCtkError(client, e, { functionName });
  }
  if (receipt.status === "success") return receipt;
  try {
    await client.publicClient.simulateContract({
      ...creditContract(client),
      functionName,
      args,
      account: client.account,
      blockNumber: receipt.blockNumber - 1n,
    } as never);
  } catch (e) {
    throw await toCtkError(client, e, { functionName });
  }
  throw new Error(`transaction ${hash} (${functionName}) reverted`);
}

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
export const revokeAuthorization = (client: CtkClient, gateway: Address, nonce: bigint) =>
  writeInferenceCredit(client, "revokeAuthorization", [gateway, nonce]);

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

/** Gateway: settles a batch of usage (activating new authorizations first). */
export const settleUsage = (client: CtkClient, b: UsageBatch, opts?: SubmitOptions) =>
  writeInferenceCredit(
    client,
    "settleUsage",
    [
      b.batchId,
      b.priceVersion,
      b.usageRoot,
      b.activations.map((a) => toSignedAuthorizationArg(a.authorization, a.signature)),
      b.charges.map((c) => ({ ...c })),
    ],
    opts,
  );
