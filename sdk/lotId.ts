/**
 * Lot ids encode (classId, expiresAt, transferPolicy) — the same layout as contracts/LotIds.sol:
 * bits 0..7 policy, 8..71 expiresAt, 72..103 classId, the rest zero.
 */
import { CtkError } from "./ctkError.js";
export const TRANSFER_POLICIES = ["soulbound", "transferable"] as const;
export type TransferPolicyName = (typeof TRANSFER_POLICIES)[number];

export interface LotParts {
  classId: number;
  /** Unix seconds. */
  expiresAt: bigint;
  policy: TransferPolicyName;
}

export class InvalidLotIdError extends CtkError {
  constructor(readonly lotId: bigint) {
    super(`${lotId} is not a valid lot id`);
    this.name = "InvalidLotIdError";
  }
}

const U32 = (1n << 32n) - 1n;
const U64 = (1n << 64n) - 1n;

export function encodeLotId({ classId, expiresAt, policy }: LotParts): bigint {
  const policyIndex = TRANSFER_POLICIES.indexOf(policy);
  if (!Number.isInteger(classId) || classId <= 0 || BigInt(classId) > U32) throw new InvalidLotIdError(0n);
  if (expiresAt < 0n || expiresAt > U64 || policyIndex < 0) throw new InvalidLotIdError(0n);
  return (BigInt(classId) << 72n) | (expiresAt << 8n) | BigInt(policyIndex);
}

export function decodeLotId(lotId: bigint): LotParts {
  const rawPolicy = Number(lotId & 0xffn);
  const classId = (lotId >> 72n) & U32;
  if (lotId < 0n || lotId >> 104n !== 0n || classId === 0n || rawPolicy > 1) throw new InvalidLotIdError(lotId);
  return { classId: Number(classId), expiresAt: (lotId >> 8n) & U64, policy: TRANSFER_POLICIES[rawPolicy] };
}

/** The on-chain enum value of a policy. */
export const policyIndex = (p: TransferPolicyName): number => TRANSFER_POLICIES.indexOf(p);

/** The class bits of a lot id, without checking the rest (movements of a malformed id still name a class). */
export const lotClassId = (lotId: bigint): number => Number((lotId >> 72n) & U32);
