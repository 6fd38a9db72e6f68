/**
 * Contract errors as one human sentence. A failed simulate/write carries a custom error
 * (`LotExpired(lotId, expiredAt)`); users see "lot H100-80GB expiring 2027-03-31 (soulbound) has
 * expired", never a selector. {@link ContractError} keeps the error's name and arguments.
 */
import { BaseError, ContractFunctionRevertedError, HttpRequestError, InsufficientFundsError, type Address, getAddress, isAddress } from "viem";
import { CREDIT_RESTRICTED_FUNCTIONS, RESTRICTED_FUNCTIONS, type RoleName } from "./roles.js";
import type { CtkClient } from "./client.js";
import { formatExpiry, formatHours, lotLabel } from "./format.js";
import { decodeLotId } from "./lotId.js";
import { CtkError } from "./ctkError.js";
import { REDEMPTION_STATUS_WORDS } from "./redemptions.js";

export class ContractError extends CtkError {
  constructor(
    message: string,
    /** The custom error's name, e.g. "LotExpired". */
    readonly errorName: string,
    /** Its arguments, in ABI order. */
    readonly args: readonly unknown[],
    /** The function that failed, when known. */
    readonly functionName?: string,
  ) {
    super(message);
    this.name = "ContractError";
  }
}

/**
 * The sender cannot pay for gas. On a zero-gas chain (the devnet; production: Hyperledger Besu
 * `--min-gas-price=0`) this never happens: fees are 0 and nobody needs ETH.
 */
export class InsufficientGasError extends CtkError {
  constructor(readonly sender?: string) {
    super(
      `${sender ?? "the sending account"} has too little ETH to pay for gas: this chain charges for gas; ask its operators to run it with a zero gas price (Besu --min-gas-price=0), as the devnet does`,
    );
    this.name = "InsufficientGasError";
  }
}

export class ChainUnreachableError extends CtkError {
  constructor(readonly rpcUrl: string) {
    super(`cannot reach the chain at ${rpcUrl} (is the devnet up? run \`ctk devnet up\`)`);
    this.name = "ChainUnreachableError";
  }
}

export interface DescribeContext {
  /** The function that was called ("grantBatch"). */
  functionName?: string;
  /** The contract called, for sentences that name it ("InferenceCredit is paused"); default ComputeToken. */
  contractName?: string;
  /** The sending account, so an unauthorized caller reads as "you". */
  sender?: Address;
  /** Class names by id, for lots and classes in the arguments. */
  classNames?: ReadonlyMap<number, string>;
}

function roleOf(functionName: string | undefined): RoleName | undefined {
  if (!functionName) return undefined;
  for (const table of [RESTRICTED_FUNCTIONS, CREDIT_RESTRICTED_FUNCTIONS]) {
    for (const [role, fns] of Object.entries(table) as [RoleName, readonly string[]][]) {
      if (fns.includes(functionName)) return role;
    }
  }
  return undefined;
}

const bps = (v: unknown) => `${(Number(v) / 10000).toString()}x`;

/** Names one lot id for a sentence ("lot H100-80GB expiring 2027-03-31 (soulbound)"). */
function lotName(lotId: unknown, ctx: DescribeContext): string {
  try {
    const parts = decodeLotId(BigInt(lotId as bigint));
    const name = ctx.classNames?.get(parts.classId) ?? `class #${parts.classId}`;
    return `lot ${lotLabel(name, parts.expiresAt, parts.policy)}`;
  } catch {
    return `lot ${String(lotId)}`;
  }
}

function className(classId: unknown, ctx: DescribeContext): string {
  const id = Number(classId);
  const name = ctx.classNames?.get(id);
  return name ? `class ${name}` : `class #${id}`;
}

function who(account: unknown, ctx: DescribeContext): string {
  const a = String(account);
  if (ctx.sender && isAddress(a) && getAddress(a) === getAddress(ctx.sender)) return `you (${getAddress(a)})`;
  return isAddress(a) ? getAddress(a) : a;
}

/** Base units of InferenceCredit as credits (6 decimals). */
function formatCreditsText(v: unknown): string {
  const units = BigInt(v as bigint);
  const frac = (units % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  return `${units / 1_000_000n}${frac ? `.${frac}` : ""}`;
}

/** One sentence for a ComputeToken / AccessManager / ERC-1155 / Pausable custom error. */
export function describeContractError(errorName: string, args: readonly unknown[], ctx: DescribeContext = {}): string {
  const a = args;
  const fn = ctx.functionName;
  switch (errorName) {
    // access and pausing
    case "AccessManagedUnauthorized": {
      const role = roleOf(fn);
      const subject = who(a[0], ctx);
      const verb = subject.startsWith("you") ? "lack" : "lacks";
      return fn ? `${subject} ${verb} the ${role ? `${role} ` : ""}role for ${fn}` : `${subject} ${verb} the role for this call`;
    }
    case "AccessManagedRequiredDelay":
      return `${who(a[0], ctx)} must schedule ${fn ?? "this call"} through the AccessManager (execution delay ${a[1]} s)`;
    case "AccessManagedInvalidAuthority":
      return `${String(a[0])} is not a valid AccessManager`;
    case "AccessManagerUnauthorizedAccount":
      return `${who(a[0], ctx)} lacks AccessManager role ${a[1]}`;
    case "AccessManagerUnauthorizedCall":
      return `${who(a[0], ctx)} may not call ${fn ?? "this function"} on the AccessManager`;
    case "EnforcedPause":
      return `${ctx.contractName ?? "ComputeToken"} is paused: ${fn ?? "this call"} is not possible until it is unpaused`;
    case "ExpectedPause":
      return `${ctx.contractName ?? "ComputeToken"} is not paused`;
    // classes
    case "UnknownClass":
      return `hardware class #${a[0]} does not exist`;
    case "ClassNotActive":
      return `${className(a[0], ctx)} is retired`;
    case "ClassNameTaken":
      return `a hardware class named "${a[0]}" already exists (#${a[1]})`;
    case "InvalidClassName":
      return `"${a[0]}" is not a valid class name (1 to 32 printable ASCII characters, no quotes or backslashes)`;
    case "InvalidProductLabel":
      return `"${a[0]}" is not a valid product label (at most 64 printable ASCII characters, no quotes or backslashes)`;
    case "InvalidMaxGpus":
      return "a class must allow at least 1 GPU per job";
    case "TooManyLots":
      return `${className(a[0], ctx)} already has the maximum of ${a[1]} lots`;
    // holders and grants
    case "NotHolder":
      return `${who(a[0], ctx)} is not an onboarded holder`;
    case "InvalidHolder":
      return `${String(a[0])} cannot be a holder`;
    case "BatchAlreadyGranted":
      return `batch ${a[0]} was already granted`;
    case "InvalidBatchRef":
      return "a grant batch needs a non-zero batchRef";
    case "EmptyBatch":
      return "the batch is empty";
    case "BatchTooLarge":
      return `a batch of ${a[0]} entries is more than the maximum of ${a[1]}`;
    case "LengthMismatch":
      return `the batch's lists have different lengths (${a[0]} and ${a[1]})`;
    case "ZeroAmount":
      return `entry ${a[0]} has an amount of zero`;
    // inference credits
    case "InvalidExpiry":
      return `expiry ${formatExpiry(BigInt(a[0] as bigint))} is not in the future (chain time ${formatExpiry(BigInt(a[1] as bigint))})`;
    case "TooManyBuckets":
      return `${who(a[0], ctx)} already holds ${a[1]} live credit buckets (expiry × policy) and none has expired`;
    case "AmountTooLarge":
      return `${a[0]} base units is more than a credit bucket holds (${a[1]})`;
    case "AuthorizationAlreadyRevoked":
      return `the authorization of ${who(a[0], ctx)} for gateway ${String(a[1])} with nonce ${a[2]} is already revoked`;
    case "AuthorizationNonceUsed":
      return `nonce ${a[2]} of ${who(a[0], ctx)} was already activated by gateway ${String(a[1])}`;
    case "InvalidAuthorizationSignature":
      return `the authorization of ${who(a[0], ctx)} with nonce ${a[1]} is not signed by that holder for this contract and chain`;
    case "ERC20InsufficientBalance":
      return `${who(a[0], ctx)} ${String(a[0]) === String(ctx.sender) ? "have" : "has"} ${formatCreditsText(a[1])} transferable credits, ${formatCreditsText(a[2])} needed`;
    case "UnknownModel":
      return `model "${a[0]}" has no price`;
    case "InvalidModelName":
      return `"${a[0]}" is not a valid model name (1 to 64 bytes)`;
    // lots
    case "LotExpired":
      return `${lotName(a[0], ctx)} has expired`;
    case "LotNotExpired":
      return `${lotName(a[0], ctx)} has not expired yet`;
    case "LotSoulbound":
      return `${lotName(a[0], ctx)} is soulbound and cannot be transferred`;
    case "LotClassMismatch":
      return `${lotName(a[0], ctx)} is not of ${className(a[1], ctx)}`;
    case "DuplicateLot":
      return `${lotName(a[0], ctx)} is listed twice`;
    case "LotCountOutOfRange":
      return `a redemption must draw from 1 to ${a[1]} lots (got ${a[0]})`;
    case "InvalidLotId":
      return `${a[0]} is not a valid lot id`;
    case "ApprovalsDisabled":
      return "operator approvals are disabled: only a holder moves their own units";
    // settings and conversions
    case "InvalidMultiplier":
      return `a priority multiplier must be between 0.1x and 5x (got ${bps(a[0])})`;
    case "InvalidLaunchTimeout":
      return "the launch timeout must be at least 1 second";
    case "InvalidConversionRate":
      return `conversion rate ${a[0]}/${a[1]} is invalid (the denominator is zero)`;
    case "SameClass":
      return `${className(a[0], ctx)} cannot be converted into itself`;
    case "ConversionNotAvailable":
      return `there is no conversion from ${className(a[0], ctx)} to ${className(a[1], ctx)}`;
    case "InexactConversion":
      return `${formatHours(BigInt(a[0] as bigint))} h does not convert exactly at rate ${a[1]}/${a[2]}`;
    // redemptions
    case "InvalidJobShape":
      return `a job needs at least 1 GPU and 1 second (got ${a[0]} GPUs for ${a[1]} s)`;
    case "GpuCountOutOfRange":
      return `${className(a[0], ctx)} allows at most ${a[2]} GPUs per job (asked for ${a[1]})`;
    case "SpecTooLarge":
      return `the job spec is ${a[0]} bytes, more than the maximum of ${a[1]}`;
    case "InsufficientBalance":
      return `not enough ${className(a[0], ctx).replace(/^class /, "")}: the job needs ${formatHours(BigInt(a[1] as bigint))} GPU-hours, the lots given hold ${formatHours(BigInt(a[2] as bigint))}`;
    case "UnknownRedemption":
      return `redemption #${a[0]} does not exist`;
    case "InvalidRedemptionStatus":
      return `redemption #${a[0]} is ${Number(a[1]) === 0 ? "unknown" : (REDEMPTION_STATUS_WORDS[Number(a[1])] ?? `in status ${a[1]}`)}`;
    case "SettleExceedsReserve":
      return `redemption #${a[0]} cannot settle ${a[1]} GPU-seconds: only ${a[2]} were reserved`;
    case "NotRedemptionHolder":
      return `${who(a[1], ctx)} did not make redemption #${a[0]}`;
    case "ReclaimTooEarly":
      return `redemption #${a[0]} can be reclaimed from ${formatExpiry(BigInt(a[1] as bigint))}`;
    // ERC-1155
    case "ERC1155InsufficientBalance": {
      const subject = who(a[0], ctx);
      return `${subject} ${subject.startsWith("you") ? "hold" : "holds"} ${formatHours(BigInt(a[1] as bigint))} GPU-hours of ${lotName(a[3], ctx)}, ${formatHours(BigInt(a[2] as bigint))} needed`;
    }
    case "ERC1155InvalidReceiver":
      return `${String(a[0])} cannot receive tokens`;
    case "ERC1155InvalidSender":
      return `${String(a[0])} cannot send tokens`;
    case "ERC1155MissingApprovalForAll":
      return `${who(a[0], ctx)} may not move the tokens of ${who(a[1], ctx)}`;
    case "ERC1155InvalidArrayLength":
      return `ids and amounts have different lengths (${a[0]} and ${a[1]})`;
    case "ERC1155InvalidApprover":
    case "ERC1155InvalidOperator":
      return "operator approvals are disabled";
    default:
      return `the contract rejected ${fn ?? "the call"} with ${errorName}(${a.map(String).join(", ")})`;
  }
}

/** The custom error inside a viem error, if any. */
export function revertOf(err: unknown): { errorName: string; args: readonly unknown[] } | { signature: string } | undefined {
  if (!(err instanceof BaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
  if (!reverted) return undefined;
  if (reverted.data) return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
  if (reverted.signature) return { signature: reverted.signature };
  return undefined;
}

/** Class ids mentioned by an error's arguments (class ids directly or inside lot ids). */
function classIdsIn(errorName: string, args: readonly unknown[]): number[] {
  const ids = new Set<number>();
  const lotArg: Record<string, number> = {
    LotExpired: 0,
    LotNotExpired: 0,
    LotSoulbound: 0,
    LotClassMismatch: 0,
    DuplicateLot: 0,
    ERC1155InsufficientBalance: 3,
  };
  const classArgs: Record<string, number[]> = {
    ClassNotActive: [0],
    TooManyLots: [0],
    LotClassMismatch: [1],
    SameClass: [0],
    ConversionNotAvailable: [0, 1],
    GpuCountOutOfRange: [0],
    InsufficientBalance: [0],
  };
  if (errorName in lotArg) {
    try {
      ids.add(decodeLotId(BigInt(args[lotArg[errorName]] as bigint)).classId);
    } catch {
      // malformed: named by its number
    }
  }
  for (const i of classArgs[errorName] ?? []) ids.add(Number(args[i]));
  return [...ids];
}

/** The viem HTTP error inside `err`, if it has one (a JSON-RPC call over HTTP). */
const httpErrorIn = (err: unknown): HttpRequestError | undefined =>
  err instanceof BaseError ? ((err.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null) ?? undefined) : undefined;

/** Whether an error from a JSON-RPC call means the node did not answer at all (refused, down, no route). */
export function isUnreachable(err: unknown): boolean {
  const http = httpErrorIn(err);
  if (http) return http.status === undefined;
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code === "ECONNREFUSED" || /fetch failed|ECONNREFUSED/.test(String((err as Error)?.message));
}

/**
 * A viem RPC call that never reached its node (nothing answered: no HTTP status), as the one-line
 * error every command prints for it; undefined for anything else. The CLI's last resort, for a
 * command whose own reads do not translate it (a stack trace there read as a bug).
 */
export function asChainUnreachable(err: unknown): ChainUnreachableError | undefined {
  if (err instanceof ChainUnreachableError) return err;
  const http = httpErrorIn(err);
  return http && http.status === undefined ? new ChainUnreachableError(http.url.replace(/\/$/, "")) : undefined;
}

/** A {@link ContractError} for a decoded custom error, its sentence naming the classes it mentions (looked up on-chain). */
export async function contractError(client: CtkClient, errorName: string, args: readonly unknown[], ctx: Omit<DescribeContext, "classNames"> = {}): Promise<ContractError> {
  const classNames = new Map<number, string>();
  for (const id of classIdsIn(errorName, args)) {
    try {
      const [name] = await client.publicClient.readContract({
        ...client.computeToken,
        functionName: "getClass",
        args: [id],
      });
      classNames.set(id, name);
    } catch {
      // unknown class: the sentence uses its number
    }
  }
  const message = describeContractError(errorName, args, { ...ctx, sender: ctx.sender ?? client.account?.address, classNames });
  return new ContractError(message, errorName, args, ctx.functionName);
}

/**
 * Turns any error from a read or write into one the user can act on: a {@link ContractError} for
 * a revert (with class names looked up on-chain), {@link ChainUnreachableError} when the node does
 * not answer, and a short sentence for missing gas funds. Anything else is returned unchanged.
 */
export async function toCtkError(client: CtkClient, err: unknown, ctx: Omit<DescribeContext, "classNames"> = {}): Promise<Error> {
  if (err instanceof ContractError || err instanceof ChainUnreachableError) return err;
  const revert = revertOf(err);
  const sender = ctx.sender ?? client.account?.address;
  if (revert && "errorName" in revert) return contractError(client, revert.errorName, revert.args, ctx);
  if (revert && "signature" in revert) {
    return new ContractError(`the contract rejected ${ctx.functionName ?? "the call"} with an unknown error ${revert.signature}`, revert.signature, [], ctx.functionName);
  }
  if (err instanceof BaseError && err.walk((e) => e instanceof InsufficientFundsError)) {
    return new InsufficientGasError(sender);
  }
  if (isUnreachable(err)) return new ChainUnreachableError(client.rpcUrl);
  return err instanceof Error ? err : new Error(String(err));
}
