/**
 * The one charge formula, used by the gateway (holds and charges) and the audit (recomputing them):
 *
 *   charge = ceil((inputTokens·inputPerMTok + outputTokens·outputPerMTok) / 1_000_000)
 *            + requestCharge + priorityFees[tier]          (base units)
 */
import { CtkError } from "../ctkError.js";
export const PRIORITY_TIERS = ["low", "normal", "high", "urgent"] as const;
export type PriorityTier = (typeof PRIORITY_TIERS)[number];

/** A model's prices in base units, as `modelPrice(model)` returns them. */
export interface ModelPrice {
  inputPerMTok: bigint;
  outputPerMTok: bigint;
  requestCharge: bigint;
  listed: boolean;
}

export interface Usage {
  inputTokens: number | bigint;
  outputTokens: number | bigint;
  tier: PriorityTier;
}

export class UnknownPriorityTierError extends CtkError {
  constructor(readonly tier: string) {
    super(`priority "${tier}" is not one of ${PRIORITY_TIERS.join(", ")}`);
    this.name = "UnknownPriorityTierError";
  }
}

/** The index of a tier in `priorityFees` (low=0 … urgent=3). */
export function tierIndex(tier: string): number {
  const i = PRIORITY_TIERS.indexOf(tier as PriorityTier);
  if (i < 0) throw new UnknownPriorityTierError(tier);
  return i;
}

const MTOK = 1_000_000n;

/** The charge for one request, base units (see the module comment). */
export function chargeFor(usage: Usage, price: Pick<ModelPrice, "inputPerMTok" | "outputPerMTok" | "requestCharge">, priorityFees: readonly bigint[]): bigint {
  const input = BigInt(usage.inputTokens);
  const output = BigInt(usage.outputTokens);
  if (input < 0n || output < 0n) throw new RangeError("token counts must not be negative");
  const tokens = input * price.inputPerMTok + output * price.outputPerMTok;
  return (tokens + MTOK - 1n) / MTOK + price.requestCharge + priorityFees[tierIndex(usage.tier)];
}
