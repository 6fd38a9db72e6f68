import { formatHours, jsonValue } from "../../sdk/format.js";
/** Shared formatting for the audit commands: hours, dates, JSON with bigints. */

/**
 * Units (GPU-seconds) as hours in the audit's text: sdk/format.ts's rule (six decimals, half away
 * from zero), thousands grouped, no "~" (the exact GPU-seconds are shown beside them).
 */
export const hours = (units: bigint): string => formatHours(units, { grouped: true, markInexact: false });

/** Unix seconds → "2025-03-01 14:02 UTC". */
export function utc(ts: bigint | number): string {
  return `${new Date(Number(ts) * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** The one --json form (sdk/format.ts jsonValue): exact numbers as numbers, timestamps as ISO 8601 UTC. */
export function toJson(value: unknown, space = 2): string {
  return JSON.stringify(value, jsonValue, space);
}
