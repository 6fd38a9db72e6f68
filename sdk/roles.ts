/**
 * Who may call what: the one table the Ignition module, the devnet deployment, the test fixtures
 * and the audit use, and the function selectors each role is wired to.
 * Role ids are AccessManager roles; ADMIN is AccessManager's built-in ADMIN_ROLE (0).
 */
import { type Hex, toFunctionSelector, toFunctionSignature } from "viem";
import { computeTokenAbi, inferenceCreditAbi } from "./generated/abi.js";

export const ROLES = {
  ADMIN: 0n,
  HR: 1n,
  OPERATIONS: 2n,
  REDEEMER: 3n,
  PAUSER: 4n,
  /** The metering gateway: settles inference usage against holders' signed authorizations. */
  GATEWAY: 5n,
} as const;

export type RoleName = keyof typeof ROLES;

/** Restricted ComputeToken functions by role (function names as in the ABI). */
export const RESTRICTED_FUNCTIONS = {
  HR: ["onboard", "readmit", "offboard", "grantBatch", "clawback"],
  OPERATIONS: ["defineClass", "updateClass", "retireClass", "setPriorityMultiplier", "setLaunchTimeout", "setRefundGrace", "setClassValue"],
  REDEEMER: ["markRunning", "markRunningBatch", "settle", "reject"],
  PAUSER: ["pause", "unpause"],
  ADMIN: ["recover"],
  GATEWAY: [],
} as const satisfies Record<RoleName, readonly string[]>;

/** Functions anyone may call (subject to the contract's own checks). */
export const PUBLIC_FUNCTIONS = ["safeTransferFrom", "safeBatchTransferFrom", "redeem", "reclaim", "convert", "sweepExpired"] as const;

/** Restricted InferenceCredit functions by role (same AccessManager, same role ids). */
export const CREDIT_RESTRICTED_FUNCTIONS = {
  HR: ["grantBatch", "clawback"],
  OPERATIONS: ["setModelPrice", "setPriorityFees"],
  REDEEMER: [],
  PAUSER: ["pause", "unpause"],
  ADMIN: [],
  GATEWAY: ["settleUsage"],
} as const satisfies Record<RoleName, readonly string[]>;

/** InferenceCredit functions anyone may call (holder checks are the contract's own). */
export const CREDIT_PUBLIC_FUNCTIONS = ["transfer", "transferFrom", "approve", "revokeAuthorization", "sweepExpired"] as const;

/** Roles the deployments label in the AccessManager (ADMIN is built in). */
export const LABELLED_ROLES = ["HR", "OPERATIONS", "REDEEMER", "PAUSER", "GATEWAY"] as const satisfies readonly RoleName[];

/** Selectors of the restricted ComputeToken functions of one role. */
export function selectorsFor(role: RoleName): Hex[] {
  return (RESTRICTED_FUNCTIONS[role] as readonly string[]).map((name) => selectorOf(computeTokenAbi, name));
}

/** Selectors of the restricted InferenceCredit functions of one role. */
export function creditSelectorsFor(role: RoleName): Hex[] {
  return (CREDIT_RESTRICTED_FUNCTIONS[role] as readonly string[]).map((name) => selectorOf(inferenceCreditAbi, name));
}

function selectorOf(abi: readonly { type: string; name?: string }[], name: string): Hex {
  const item = abi.find((x) => x.type === "function" && x.name === name);
  if (!item) throw new Error(`no function ${name} in the ABI`);
  return toFunctionSelector(toFunctionSignature(item as never));
}
