/**
 * Chain access for redemptions: read one (`getRedemption`), and the redeemer's writes
 * (`markRedemptionRunning`, `settleRedemption`, `rejectRedemption`). Every function takes the
 * clients and the contract address explicitly, so it works with any viem client set-up.
 *
 * Contract reverts come back as error classes that carry the numbers (`RedemptionStatusConflict`
 * with the status found, `SettleExceedsReserve` with used and reserved), never as raw RPC errors.
 */
import {
  type Account,
  type Address,
  type Chain,
  type Hash,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
  BaseError,
  ContractFunctionRevertedError,
  type ContractFunctionReturnType,
  keccak256,
  stringToBytes,
} from "viem";
import { PRIORITIES, type PriorityName } from "./jobSpec.js";
import { computeTokenAbi } from "./generated/abi.js";
import { decodeLogs, type LogLike } from "./logs/decodeLogs.js";
import { CtkError } from "./ctkError.js";

/** ComputeToken.RedemptionStatus, in enum order. */
export const REDEMPTION_STATUSES = ["None", "Requested", "Running", "Settled", "Rejected", "Reclaimed"] as const;
export type RedemptionStatusName = (typeof REDEMPTION_STATUSES)[number];

/**
 * A status as users read it, in lower case ("requested", "settled"): audit reports, findings,
 * statements and error messages.
 */
export type RedemptionStatusWord = Lowercase<RedemptionStatusName>;
export const REDEMPTION_STATUS_WORDS = REDEMPTION_STATUSES.map((s) => s.toLowerCase()) as readonly RedemptionStatusWord[] as readonly [
  "none",
  "requested",
  "running",
  "settled",
  "rejected",
  "reclaimed",
];

/** Statuses a redemption never leaves. */
export const TERMINAL_STATUSES: readonly RedemptionStatusName[] = ["Settled", "Rejected", "Reclaimed"];
export const isTerminalStatus = (s: RedemptionStatusName): boolean => TERMINAL_STATUSES.includes(s);

export const statusName = (index: number): RedemptionStatusName => {
  const name = REDEMPTION_STATUSES[index];
  if (name === undefined) throw new RangeError(`unknown redemption status ${index}`);
  return name;
};

export interface RedemptionReadContext {
  publicClient: Pick<PublicClient, "readContract">;
  /** The ComputeToken contract. */
  address: Address;
}

export type RedeemerWalletClient = WalletClient<Transport, Chain | undefined, Account>;

export interface RedemptionWriteContext {
  publicClient: Pick<PublicClient, "readContract" | "estimateContractGas" | "simulateContract" | "waitForTransactionReceipt">;
  walletClient: RedeemerWalletClient;
  address: Address;
}

/** A redemption as the contract holds it. */
export interface Redemption {
  id: bigint;
  holder: Address;
  classId: number;
  priority: PriorityName;
  gpus: number;
  status: RedemptionStatusName;
  /** Unix seconds. */
  requestedAt: number;
  /**
   * When the holder (or its recovered replacement) may reclaim it in full, unix seconds: the launch
   * timeout in force at the request for a Requested one, the allotted time plus the settle grace
   * after launch for a Running one (what the contract's `reclaim` checks).
   */
  reclaimableAt: bigint;
  reserved: bigint;
  used: bigint;
  specHash: Hex;
  lotIds: readonly bigint[];
  amounts: readonly bigint[];
}

// ─────────────────────────────── errors ───────────────────────────────

/** No redemption has this id (never made, or made in a block that was reorganised away). */
export class UnknownRedemptionError extends CtkError {
  constructor(readonly id: bigint) {
    super(`redemption ${id} does not exist`);
  }
}

/** The redemption is not in a status that allows the call (someone moved it first). */
export class RedemptionStatusConflict extends CtkError {
  constructor(
    readonly id: bigint,
    readonly status: RedemptionStatusName,
  ) {
    super(`redemption ${id} is ${status}`);
  }
}

/** A settle that would consume more units than the redemption reserved. */
export class SettleExceedsReserveError extends CtkError {
  constructor(
    readonly id: bigint,
    readonly used: bigint,
    readonly reserved: bigint,
  ) {
    super(`redemption ${id}: cannot settle ${used} units, only ${reserved} are reserved`);
  }
}

/** The caller lacks the redeemer role (AccessManager said no). */
export class NotRedeemerError extends CtkError {
  constructor(readonly account: Address | undefined) {
    super(`${account ?? "the caller"} may not move redemptions: it does not hold the REDEEMER role`);
  }
}

/** The transaction was mined but reverted. */
export class RedemptionTxReverted extends CtkError {
  constructor(readonly hash: Hash) {
    super(`transaction ${hash} reverted`);
  }
}

/**
 * Translates a contract revert into one of the errors above; any other error (RPC, network) is
 * returned as it is.
 */
export function redemptionErrorFrom(err: unknown, context: { id?: bigint; account?: Address } = {}): unknown {
  if (!(err instanceof BaseError)) return err;
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
  const name = revert?.data?.errorName;
  const args = (revert?.data?.args ?? []) as readonly unknown[];
  switch (name) {
    case "UnknownRedemption":
      return new UnknownRedemptionError(args[0] as bigint);
    case "InvalidRedemptionStatus":
      return new RedemptionStatusConflict(args[0] as bigint, statusName(Number(args[1])));
    case "SettleExceedsReserve":
      return new SettleExceedsReserveError(args[0] as bigint, args[1] as bigint, args[2] as bigint);
    case "AccessManagedUnauthorized":
      return new NotRedeemerError((args[0] as Address | undefined) ?? context.account);
    default:
      return err;
  }
}

// ─────────────────────────────── reads ────────────────────────────────

export interface ReadOptions {
  /** Read the state as of this block (default: latest). */
  blockNumber?: bigint;
}

/** The redemption, or undefined when no redemption has this id. */
export async function getRedemption(ctx: RedemptionReadContext, id: bigint, options: ReadOptions = {}): Promise<Redemption | undefined> {
  let v;
  try {
    v = await ctx.publicClient.readContract({
      address: ctx.address,
      abi: computeTokenAbi,
      functionName: "getRedemption",
      args: [id],
      ...(options.blockNumber !== undefined && { blockNumber: options.blockNumber }),
    });
  } catch (err) {
    const mapped = redemptionErrorFrom(err);
    if (mapped instanceof UnknownRedemptionError) return undefined;
    throw mapped;
  }
  return redemptionFromView(id, v);
}

/** getRedemption's result, as the ABI decodes it. */
export type RedemptionViewResult = ContractFunctionReturnType<typeof computeTokenAbi, "view", "getRedemption">;

/** A redemption from getRedemption's result (the contract's numbers as this SDK's names). */
export function redemptionFromView(id: bigint, v: RedemptionViewResult): Redemption {
  return {
    id,
    holder: v.holder,
    classId: v.classId,
    priority: PRIORITIES[v.priority]!,
    gpus: v.gpus,
    status: statusName(v.status),
    requestedAt: v.requestedAt,
    reclaimableAt: BigInt(v.reclaimableAt),
    reserved: v.reserved,
    used: v.used,
    specHash: v.specHash,
    lotIds: v.lotIds,
    amounts: v.amounts,
  };
}

/** Number of redemptions made so far (ids run from 1 to this). */
export async function getRedemptionCount(ctx: RedemptionReadContext, options: ReadOptions = {}): Promise<bigint> {
  return ctx.publicClient.readContract({
    address: ctx.address,
    abi: computeTokenAbi,
    functionName: "redemptionCount",
    ...(options.blockNumber !== undefined && { blockNumber: options.blockNumber }),
  });
}

// ─────────────────────────────── writes ───────────────────────────────

/** The redeemer's lifecycle calls (markRunningBatch: several claims in one transaction). */
export type RedemptionCall =
  | { functionName: "markRunning"; args: readonly [id: bigint, jobRef: Hex] }
  | { functionName: "markRunningBatch"; args: readonly [ids: readonly bigint[], jobRefs: readonly Hex[]] }
  | { functionName: "settle"; args: readonly [id: bigint, used: bigint, receiptHash: Hex] }
  | { functionName: "reject"; args: readonly [id: bigint, reasonCode: number] };

export interface WriteOverrides {
  /** Use this nonce (the caller manages nonces). */
  nonce?: number;
  /** Use this gas limit (skips estimation). */
  gas?: bigint;
}

/** Runs `call` through `run` (estimate or send) with the contract request both make; a refusal throws its mapped error. */
async function lifecycleCall<T>(
  ctx: RedemptionWriteContext,
  call: RedemptionCall,
  run: (request: { address: Address; abi: typeof computeTokenAbi; account: RedemptionWriteContext["walletClient"]["account"] } & RedemptionCall) => Promise<T>,
): Promise<T> {
  const account = ctx.walletClient.account;
  try {
    return await run({ address: ctx.address, abi: computeTokenAbi, account, ...call });
  } catch (err) {
    throw redemptionErrorFrom(err, { ...callId(call), account: account.address });
  }
}

/**
 * Runs a lifecycle call once without sending it; a call the contract would refuse throws its mapped
 * error. For a call whose gas the caller bounds itself: estimation runs it a dozen times or more.
 */
export async function simulateRedemptionCall(ctx: RedemptionWriteContext, call: RedemptionCall): Promise<void> {
  await lifecycleCall(ctx, call, (request) => ctx.publicClient.simulateContract(request as never));
}

/** Estimates a lifecycle call's gas; a call the contract would refuse throws its mapped error. */
export function estimateRedemptionCall(ctx: RedemptionWriteContext, call: RedemptionCall): Promise<bigint> {
  return lifecycleCall(ctx, call, (request) => ctx.publicClient.estimateContractGas(request as never));
}

/** Sends a lifecycle call; resolves to the transaction hash once the node accepted it. */
export function sendRedemptionCall(ctx: RedemptionWriteContext, call: RedemptionCall, overrides: WriteOverrides = {}): Promise<Hash> {
  return lifecycleCall(ctx, call, (request) =>
    ctx.walletClient.writeContract({
      ...request,
      chain: ctx.walletClient.chain,
      ...(overrides.nonce !== undefined && { nonce: overrides.nonce }),
      ...(overrides.gas !== undefined && { gas: overrides.gas }),
    } as never),
  );
}

/** Waits for a lifecycle transaction to be mined. @throws RedemptionTxReverted */
export async function waitForRedemptionCall(
  ctx: Pick<RedemptionWriteContext, "publicClient">,
  hash: Hash,
  options: { timeoutMs?: number; pollingIntervalMs?: number } = {},
): Promise<TransactionReceipt> {
  const receipt = await ctx.publicClient.waitForTransactionReceipt({
    hash,
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
    ...(options.pollingIntervalMs !== undefined && { pollingInterval: options.pollingIntervalMs }),
  });
  if (receipt.status !== "success") throw new RedemptionTxReverted(hash);
  return receipt;
}

/** The redemptions a mined transaction claimed (its `RedemptionRunning` logs from `address`): id → jobRef. */
export function claimedIn(receipt: { logs: readonly LogLike[] }, address: Address): Map<bigint, Hex> {
  const claimed = new Map<bigint, Hex>();
  const contract = address.toLowerCase();
  const ours = receipt.logs.filter((log) => log.address?.toLowerCase() === contract);
  for (const e of decodeLogs(computeTokenAbi, ours, ["RedemptionRunning"])) claimed.set(e.args.id, e.args.jobRef);
  return claimed;
}

/** `markRunning(id, jobRef)`: the job was launched. Resolves to the mined receipt. */
export async function markRedemptionRunning(ctx: RedemptionWriteContext, id: bigint, jobRef: Hex, overrides?: WriteOverrides): Promise<TransactionReceipt> {
  return waitForRedemptionCall(ctx, await sendRedemptionCall(ctx, { functionName: "markRunning", args: [id, jobRef] }, overrides));
}

/**
 * `settle(id, used, receiptHash)`: the job ended. Pass `reserved` to have the call refused here,
 * before anything is sent, when `used` exceeds it.
 */
export async function settleRedemption(
  ctx: RedemptionWriteContext,
  id: bigint,
  used: bigint,
  receiptHash: Hex,
  options: WriteOverrides & { reserved?: bigint } = {},
): Promise<TransactionReceipt> {
  if (used < 0n) throw new RangeError(`used must not be negative (got ${used})`);
  if (options.reserved !== undefined && used > options.reserved) throw new SettleExceedsReserveError(id, used, options.reserved);
  return waitForRedemptionCall(ctx, await sendRedemptionCall(ctx, { functionName: "settle", args: [id, used, receiptHash] }, options));
}

/** `reject(id, reasonCode)`: the job cannot run; full refund. */
export async function rejectRedemption(ctx: RedemptionWriteContext, id: bigint, reasonCode: number, overrides?: WriteOverrides): Promise<TransactionReceipt> {
  return waitForRedemptionCall(ctx, await sendRedemptionCall(ctx, { functionName: "reject", args: [id, reasonCode] }, overrides));
}

// ─────────────────────────────── helpers ──────────────────────────────

/** The redemption a single call is about, for its error (a batch names none). */
const callId = (call: RedemptionCall): { id?: bigint } => (typeof call.args[0] === "bigint" ? { id: call.args[0] } : {});

/** The `jobRef` put on-chain by markRunning: keccak256 of "<executor kind>:<job name>". */
export const jobRefFor = (executorKind: string, jobName: string): Hex => keccak256(stringToBytes(`${executorKind}:${jobName}`));
