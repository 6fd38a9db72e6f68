/**
 * What the audit's replay produces: findings, classified movements, redemption lifecycles, the
 * classes, lots and role changes it rebuilt.
 */
import type { Address, Hex } from "viem";
import type { ClassInfo } from "../../classes.js";
import type { LotParts } from "../../lotId.js";
import type { Redemption, RedemptionStatusWord } from "../../redemptions.js";
import type { AuditEventPosition } from "../events.js";
import type { MovementKind } from "../movements.js";

export type { RedemptionStatusWord };

/** Records a finding at an event's position. */
export type FindFn = (code: string, message: string, pos?: Partial<AuditEventPosition>) => void;

export interface Finding {
  /** Short category, e.g. "balance", "lifecycle", "bytecode", "receipt". */
  code: string;
  message: string;
  blockNumber?: bigint;
  txHash?: Hex;
}

export type { MovementKind };

/** One classified change of a holder's position (consume is informational: units burnt at redeem and kept). */
export interface Movement {
  kind: MovementKind;
  holder: Address;
  lotId: bigint;
  classId: number;
  amount: bigint;
  counterparty?: Address;
  redemptionId?: bigint;
  note?: string;
  blockNumber: bigint;
  timestamp: bigint;
  txHash: Hex;
}

export interface LotShare {
  lotId: bigint;
  amount: bigint;
}

export interface StatusChange {
  status: RedemptionStatusWord;
  timestamp: bigint;
  blockNumber: bigint;
  txHash: Hex;
}

/** A redemption as the replay rebuilt it: the contract's fields (../../redemptions.ts) and its history. */
export interface Lifecycle extends Pick<Redemption, "id" | "holder" | "classId" | "priority" | "gpus" | "reserved" | "used" | "specHash"> {
  seconds: number;
  /** Lots drawn from, in draw order. */
  lots: LotShare[];
  status: RedemptionStatusWord;
  refunded: bigint;
  requestedAt: bigint;
  jobRef?: Hex;
  receiptHash?: Hex;
  reasonCode?: number;
  history: StatusChange[];
}

/** A class as the replay rebuilt it (the SDK's one hardware-class type). */
export type ClassState = ClassInfo;

export interface LotState extends LotParts {
  lotId: bigint;
  registeredAt: bigint;
}

export interface RoleChange {
  action: "granted" | "revoked";
  roleId: bigint;
  account: Address;
  /** Execution delay of the grant (seconds). */
  delay?: number;
  /** Unix seconds from which the grant is effective. */
  since?: bigint;
  newMember?: boolean;
  blockNumber: bigint;
  timestamp: bigint;
  txHash: Hex;
}

export interface RoleMember {
  since: bigint;
  delay: number;
}

export interface ReplayOptions {
  token: Address;
  manager: Address;
  /** Called for every classified movement (reports and statements aggregate these). */
  onMovement?: (m: Movement) => void;
}
