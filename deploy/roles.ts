/**
 * Who may call what: the one table the Ignition module, the test fixtures and the audit use.
 * Role ids are AccessManager roles; ADMIN is AccessManager's built-in ADMIN_ROLE (0).
 */
export const ROLES = {
  ADMIN: 0n,
  HR: 1n,
  OPERATIONS: 2n,
  REDEEMER: 3n,
  PAUSER: 4n,
} as const;

export type RoleName = keyof typeof ROLES;

/** Restricted ComputeToken functions by role (function names as in the ABI). */
export const RESTRICTED_FUNCTIONS = {
  HR: ["onboard", "readmit", "offboard", "grantBatch", "clawback"],
  OPERATIONS: [
    "defineClass",
    "updateClass",
    "retireClass",
    "setPriorityMultiplier",
    "setLaunchTimeout",
    "setRefundGrace",
    "setClassValue",
  ],
  REDEEMER: ["markRunning", "settle", "reject"],
  PAUSER: ["pause", "unpause"],
  ADMIN: ["recover"],
} as const satisfies Record<RoleName, readonly string[]>;

/** Functions anyone may call (subject to the contract's own checks). */
export const PUBLIC_FUNCTIONS = [
  "safeTransferFrom",
  "safeBatchTransferFrom",
  "redeem",
  "reclaim",
  "convert",
  "sweepExpired",
] as const;
