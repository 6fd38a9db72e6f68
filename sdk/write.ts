/**
 * Sending transactions to the deployment's contracts (ComputeToken, InferenceCredit): typed from the
 * ABI, waiting for the receipt, and failing with one {@link ContractError} sentence that names the
 * contract instead of a viem stack.
 */
import { type Abi, type Address, type ContractFunctionArgs, type ContractFunctionName, decodeErrorResult, type Hash, type Hex, type TransactionReceipt } from "viem";
import { type CtkClient, requireWriter } from "./client.js";
import { CtkError } from "./ctkError.js";
import { ContractError, contractError, toCtkError } from "./errors.js";
import { accessManagerAbi, computeTokenAbi, inferenceCreditAbi } from "./generated/abi.js";

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

/**
 * The gas limit sent for an estimate: 30 % and 10,000 more. The estimate is taken at the latest block,
 * the transaction runs in a later one, and what it costs can change in between: a refund into a lot
 * whose expiry crosses the refund grace costs more from that second on. Unused gas is not charged.
 */
export const gasWithMargin = (estimate: bigint): bigint => (estimate * 13n) / 10n + 10_000n;

/** Sends a transaction and returns its hash without waiting for it (gas: the estimate with {@link gasWithMargin}). */
export async function submitWrite<const A extends Abi, const F extends WriteName<A>>(
  client: CtkClient,
  { contract, functionName, args }: WriteCall<A, F>,
  opts: SubmitOptions = {},
): Promise<Hash> {
  const w = requireWriter(client);
  try {
    const gas =
      opts.gas ?? gasWithMargin(await client.publicClient.estimateContractGas({ address: contract.address, abi: contract.abi, functionName, args, account: w.account } as never));
    return await w.walletClient.writeContract({
      address: contract.address,
      abi: contract.abi,
      functionName,
      args,
      account: w.account,
      chain: w.chain,
      gas,
      ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
    } as never);
  } catch (e) {
    throw await toCtkError(client, e, { functionName, contractName: contract.contractName });
  }
}

/**
 * A transaction that was mined and reverted without a custom error to name: out of gas, or a
 * failure only its own block shows. The message carries the node's word for it and the gas.
 */
export class TransactionRevertedError extends CtkError {
  constructor(
    readonly hash: Hash,
    readonly functionName: string | undefined,
    readonly reason: string,
  ) {
    super(`transaction ${hash}${functionName ? ` (${functionName})` : ""} reverted: ${reason}`);
  }
}

/** Every custom error the deployment's contracts raise (ComputeToken, InferenceCredit, the AccessManager). */
const DEPLOYMENT_ERRORS = [...computeTokenAbi, ...inferenceCreditAbi, ...accessManagerAbi].filter((item) => item.type === "error");

/** The top call of a transaction as the node's `callTracer` saw it (nodes without the debug API: undefined). */
async function traceTopCall(client: CtkClient, hash: Hash): Promise<{ error?: string; output?: Hex } | undefined> {
  try {
    return (await client.publicClient.request({
      method: "debug_traceTransaction",
      params: [hash, { tracer: "callTracer", tracerConfig: { onlyTopCall: true } }],
    } as never)) as { error?: string; output?: Hex };
  } catch {
    return undefined;
  }
}

/** The custom error (or `Error(string)`, `Panic(uint256)`) in revert data, if the contracts' ABIs know it. */
function decodeRevertData(data: Hex | undefined, abi: Abi = []): { errorName: string; args: readonly unknown[] } | undefined {
  if (!data || data.length < 10) return undefined;
  try {
    const { errorName, args } = decodeErrorResult({ abi: [...abi, ...DEPLOYMENT_ERRORS], data });
    return { errorName, args: args ?? [] };
  } catch {
    return undefined;
  }
}

/**
 * Why a mined transaction reverted: the custom error of the node's trace of it (what happened in
 * its own block), else the one its replay at the parent block raises, else a
 * {@link TransactionRevertedError} with the node's reason ("out of gas: …") and the gas it used.
 */
async function revertReason<const A extends Abi, const F extends WriteName<A>>(client: CtkClient, receipt: TransactionReceipt, replay?: WriteCall<A, F>): Promise<Error> {
  const ctx = { functionName: replay?.functionName, contractName: replay?.contract.contractName };
  const hash = receipt.transactionHash;
  const trace = await traceTopCall(client, hash);
  const decoded = decodeRevertData(trace?.output, replay?.contract.abi);
  if (decoded) return contractError(client, decoded.errorName, decoded.args, ctx);
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
      const err = await toCtkError(client, e, ctx);
      if (err instanceof ContractError) return err;
    }
  }
  const limit = await client.publicClient.getTransaction({ hash }).then(
    (tx) => tx.gas,
    () => undefined,
  );
  const gas = limit === undefined ? `used ${receipt.gasUsed} gas` : `used ${receipt.gasUsed} of its ${limit} gas limit`;
  const said = trace?.error ?? (limit !== undefined && receipt.gasUsed >= limit ? "out of gas" : "no reason given");
  return new TransactionRevertedError(hash, replay?.functionName, `${said} (block ${receipt.blockNumber}, ${gas})`);
}

/**
 * Waits for a transaction and returns its receipt; a reverted one throws the reason
 * ({@link ContractError} for a custom error, else {@link TransactionRevertedError}).
 */
export async function waitForSuccess<const A extends Abi, const F extends WriteName<A>>(client: CtkClient, hash: Hash, replay?: WriteCall<A, F>): Promise<TransactionReceipt> {
  let receipt: TransactionReceipt;
  try {
    receipt = await client.publicClient.waitForTransactionReceipt({ hash, pollingInterval: client.publicClient.pollingInterval });
  } catch (e) {
    throw await toCtkError(client, e, { functionName: replay?.functionName, contractName: replay?.contract.contractName });
  }
  if (receipt.status === "success") return receipt;
  throw await revertReason(client, receipt, replay);
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
