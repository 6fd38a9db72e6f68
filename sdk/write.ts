/**
 * Sending transactions to the deployment's contracts (ComputeToken, InferenceCredit): typed from the
 * ABI, waiting for the receipt, and failing with one {@link ContractError} sentence that names the
 * contract instead of a viem stack.
 */
import type { Abi, Address, ContractFunctionArgs, ContractFunctionName, Hash, TransactionReceipt } from "viem";
import { type CtkClient, requireWriter } from "./client.js";
import { toCtkError } from "./errors.js";
import type { computeTokenAbi } from "./generated/abi.js";

/** A contract to call: its address, its ABI (`as const`) and its name for error sentences. */
export interface ContractHandle<A extends Abi = Abi> {
  address: Address;
  abi: A;
  /** "ComputeToken", "InferenceCredit" (default: ComputeToken). */
  contractName?: string;
}

export type WriteName<A extends Abi> = ContractFunctionName<A, "nonpayable" | "payable">;
export type WriteArgs<A extends Abi, F extends WriteName<A>> = ContractFunctionArgs<A, "nonpayable" | "payable", F>;

type Abi1155 = typeof computeTokenAbi;
export type ComputeTokenWriteName = WriteName<Abi1155>;
export type ComputeTokenWriteArgs<F extends ComputeTokenWriteName> = WriteArgs<Abi1155, F>;

export interface SubmitOptions {
  /** Explicit nonce (to send several transactions without waiting in between). */
  nonce?: number;
  /** Explicit gas limit (skips estimation, so a revert only shows in the receipt). */
  gas?: bigint;
}

/** One function call on one contract. */
export interface WriteCall<A extends Abi, F extends WriteName<A>> {
  contract: ContractHandle<A>;
  functionName: F;
  args: WriteArgs<A, F>;
}

/** Sends a transaction and returns its hash without waiting for it. */
export async function submitWrite<const A extends Abi, const F extends WriteName<A>>(
  client: CtkClient,
  { contract, functionName, args }: WriteCall<A, F>,
  opts: SubmitOptions = {},
): Promise<Hash> {
  const w = requireWriter(client);
  try {
    return await w.walletClient.writeContract({
      address: contract.address,
      abi: contract.abi,
      functionName,
      args,
      account: w.account,
      chain: w.chain,
      ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      ...(opts.gas !== undefined ? { gas: opts.gas } : {}),
    } as never);
  } catch (e) {
    throw await toCtkError(client, e, { functionName, contractName: contract.contractName });
  }
}

/**
 * Waits for a transaction and returns its receipt; a reverted one is replayed at its block's parent
 * to name the error.
 */
export async function waitForSuccess<const A extends Abi, const F extends WriteName<A>>(client: CtkClient, hash: Hash, replay?: WriteCall<A, F>): Promise<TransactionReceipt> {
  const ctx = { functionName: replay?.functionName, contractName: replay?.contract.contractName };
  let receipt: TransactionReceipt;
  try {
    receipt = await client.publicClient.waitForTransactionReceipt({ hash, pollingInterval: client.publicClient.pollingInterval });
  } catch (e) {
    throw await toCtkError(client, e, ctx);
  }
  if (receipt.status === "success") return receipt;
  if (replay) {
    try {
      await client.publicClient.simulateContract({
        address: replay.contract.address,
        abi: replay.contract.abi,
        functionName: replay.functionName,
        args: replay.args,
        account: client.account,
        blockNumber: receipt.blockNumber - 1n,
      } as never);
    } catch (e) {
      throw await toCtkError(client, e, ctx);
    }
  }
  throw new Error(`transaction ${hash}${replay ? ` (${replay.functionName})` : ""} reverted`);
}

/** Sends a transaction, waits for it, and returns the receipt; throws ContractError on revert. */
export async function writeAndWait<const A extends Abi, const F extends WriteName<A>>(
  client: CtkClient,
  call: WriteCall<A, F>,
  opts: SubmitOptions = {},
): Promise<TransactionReceipt> {
  return waitForSuccess(client, await submitWrite(client, call, opts), call);
}

/** Sends a ComputeToken transaction, waits for it, and returns the receipt; throws ContractError on revert. */
export const writeComputeToken = <const F extends ComputeTokenWriteName>(
  client: CtkClient,
  functionName: F,
  args: ComputeTokenWriteArgs<F>,
  opts: SubmitOptions = {},
): Promise<TransactionReceipt> => writeAndWait(client, { contract: requireWriter(client).computeToken, functionName, args }, opts);
