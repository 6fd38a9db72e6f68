import { jsonValue } from "../../sdk/format.js";
/** Shared formatting for the audit commands: hours, dates, JSON with bigints. */

/**
 * Units (GPU-seconds) as hours with up to six decimals: 7200n → "2", 5400n → "1.5", 8n → "0.002222".
 * Six decimals of an hour (3.6 ms) tell every GPU-second apart, so no non-zero amount shows as 0
 * and round(hours × 3600) gives the units back; the exact GPU-seconds are shown beside them.
 */
export function hours(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const micro = (abs * 1_000_000n + 1800n) / 3600n;
  const whole = micro / 1_000_000n;
  const frac = (micro % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  const text = frac === "" ? whole.toLocaleString("en-US") : `${whole.toLocaleString("en-US")}.${frac}`;
  return neg ? `-${text}` : text;
}

/** Unix seconds → "2025-03-01 14:02 UTC". */
export function utc(ts: bigint | number): string {
  return `${new Date(Number(ts) * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** The one --json form (sdk/format.ts jsonValue): exact numbers as numbers, timestamps as ISO 8601 UTC. */
export function toJson(value: unknown, space = 2): string {
  return JSON.stringify(value, jsonValue, space);
}
