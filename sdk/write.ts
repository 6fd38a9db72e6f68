/**
 * Sending ComputeToken transactions: typed from the ABI, waiting for the receipt, and failing with
 * one {@link ContractError} sentence instead of a viem stack.
 */
import type { ContractFunctionArgs, ContractFunctionName, Hash, TransactionReceipt } from "viem";
import { type CtkClient, requireWriter } from "./client.js";
import { toCtkError } from "./errors.js";
import type { computeTokenAbi } from "./generated/abi.js";

type Abi = typeof computeTokenAbi;
export type ComputeTokenWriteName = ContractFunctionName<Abi, "nonpayable" | "payable">;
export type ComputeTokenWriteArgs<F extends ComputeTokenWriteName> = ContractFunctionArgs<Abi, "nonpayable" | "payable", F>;

export interface SubmitOptions {
  /** Explicit nonce (to send several transactions without waiting in between). */
  nonce?: number;
  /** Explicit gas limit (skips estimation, so a revert only shows in the receipt). */
  gas?: bigint;
}

/** Sends a ComputeToken transaction and returns its hash without waiting for it. */
export async function submitComputeToken<const F extends ComputeTokenWriteName>(
  client: CtkClient,
  functionName: F,
  args: ComputeTokenWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<Hash> {
  const w = requireWriter(client);
  try {
    return await w.walletClient.writeContract({
      ...w.computeToken,
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

/**
 * Waits for a transaction and returns its receipt; a reverted one is replayed at its block's parent
 * to name the error.
 */
export async function waitForSuccess<const F extends ComputeTokenWriteName>(
  client: CtkClient,
  hash: Hash,
  replay?: { functionName: F; args: ComputeTokenWriteArgs<F> },
): Promise<TransactionReceipt> {
  let receipt: TransactionReceipt;
  try {
    receipt = await client.publicClient.waitForTransactionReceipt({ hash, pollingInterval: client.publicClient.pollingInterval });
  } catch (e) {
    throw await toCtkError(client, e, { functionName: replay?.functionName });
  }
  if (receipt.status === "success") return receipt;
  if (replay) {
    try {
      await client.publicClient.simulateContract({
        ...client.computeToken,
        functionName: replay.functionName,
        args: replay.args,
        account: client.account,
        blockNumber: receipt.blockNumber - 1n,
      } as never);
    } catch (e) {
      throw await toCtkError(client, e, { functionName: replay.functionName });
    }
  }
  throw new Error(`transaction ${hash}${replay ? ` (${replay.functionName})` : ""} reverted`);
}

/** Sends a ComputeToken transaction, waits for it, and returns the receipt; throws ContractError on revert. */
export async function writeComputeToken<const F extends ComputeTokenWriteName>(
  client: CtkClient,
  functionName: F,
  args: ComputeTokenWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<TransactionReceipt> {
  const hash = await submitComputeToken(client, functionName, args, opts);
  return waitForSuccess(client, hash, { functionName, args });
}
