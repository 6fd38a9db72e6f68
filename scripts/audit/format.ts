/** Shared formatting for the audit commands: hours, dates, JSON with bigints. */

/** Units (GPU-seconds) as hours, at most two decimals: 7200n → "2", 5400n → "1.5". */
export function hours(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const hundredths = (abs * 100n + 1800n) / 3600n;
  const whole = hundredths / 100n;
  const frac = hundredths % 100n;
  const text = frac === 0n ? whole.toLocaleString("en-US") : `${whole.toLocaleString("en-US")}.${frac.toString().padStart(2, "0").replace(/0$/, "")}`;
  return neg ? `-${text}` : text;
}

/** Unix seconds → "2025-03-01 14:02 UTC". */
export function utc(ts: bigint | number): string {
  return `${new Date(Number(ts) * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Unix seconds → "YYYY-MM" (UTC). */
export function month(ts: bigint | number): string {
  return new Date(Number(ts) * 1000).toISOString().slice(0, 7);
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown, space = 2): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), space);
}
