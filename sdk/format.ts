/**
 * Units, hours and dates as users see them. 1 token unit = 1 GPU-second; every user-facing
 * surface shows hours. Parsing is exact (decimal strings, bigint arithmetic): no float rounding
 * ever decides how many GPU-seconds someone is granted.
 */
import type { TransferPolicyName } from "./lotId.js";
import { CtkError } from "./ctkError.js";

export const SECONDS_PER_HOUR = 3600n;

export class InputFormatError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "InputFormatError";
  }
}

const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * GPU-hours (a decimal string such as "12", "1.5", "0.25") to GPU-seconds.
 * Throws {@link InputFormatError} for malformed, non-positive or fractional-second amounts.
 */
export function parseHours(text: string): bigint {
  const s = text.trim();
  if (s.startsWith("-")) throw new InputFormatError(`gpu_hours "${s}" is negative`);
  if (!DECIMAL.test(s)) throw new InputFormatError(`gpu_hours "${s}" is not a number`);
  const [whole, frac = ""] = s.split(".");
  const scale = 10n ** BigInt(frac.length);
  const scaled = BigInt(whole + frac) * SECONDS_PER_HOUR;
  if (scaled === 0n) throw new InputFormatError(`gpu_hours "${s}" is not positive`);
  if (scaled % scale !== 0n) {
    throw new InputFormatError(`gpu_hours "${s}" is not a whole number of GPU-seconds (hours × 3600)`);
  }
  return scaled / scale;
}

/**
 * GPU-seconds as hours — the one hours formatter of the tree (CLI, audit reports and CSV, web).
 * Rounding rule: to 6 decimal places (3.6 ms, so every GPU-second stays distinct and no non-zero
 * amount shows as 0), half away from zero; trailing zeros dropped ("1.5", "2", "0.002222").
 * `markInexact` (default true) puts a "~" before a figure that was rounded; `grouped` writes the
 * whole hours with en-US thousands separators ("1,234.5").
 */
export function formatHours(units: bigint, opts: { markInexact?: boolean; grouped?: boolean } = {}): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const micro = abs * 1_000_000n;
  const exact = micro % SECONDS_PER_HOUR === 0n;
  const rounded = (micro + SECONDS_PER_HOUR / 2n) / SECONDS_PER_HOUR;
  const whole = rounded / 1_000_000n;
  const frac = (rounded % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  const wholeText = opts.grouped ? whole.toLocaleString("en-US") : whole.toString();
  return `${exact || opts.markInexact === false ? "" : "~"}${negative ? "-" : ""}${wholeText}${frac ? `.${frac}` : ""}`;
}

/** Hours as a JSON number (for --json output; the exact figure is the units string beside it). */
export const hoursNumber = (units: bigint): number => Number(units) / 3600;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * An ISO-8601 expiry to unix seconds. A bare date ("2027-03-31") means 00:00:00 UTC that day; a
 * date-time needs a zone ("Z" or "+02:00") and whole seconds.
 */
export function parseExpiry(text: string): bigint {
  const s = text.trim();
  let y: number,
    mo: number,
    d: number,
    h = 0,
    mi = 0,
    sec = 0,
    offsetMin = 0;
  const dm = DATE_ONLY.exec(s);
  const tm = dm ? null : DATE_TIME.exec(s);
  if (dm) {
    [y, mo, d] = [Number(dm[1]), Number(dm[2]), Number(dm[3])];
  } else if (tm) {
    [y, mo, d, h, mi] = [Number(tm[1]), Number(tm[2]), Number(tm[3]), Number(tm[4]), Number(tm[5])];
    sec = tm[6] ? Number(tm[6]) : 0;
    if (tm[7] && /[1-9]/.test(tm[7])) throw new InputFormatError(`expires_at "${s}" has fractional seconds`);
    const zone = tm[8];
    if (!zone) throw new InputFormatError(`expires_at "${s}" has no time zone (add Z or an offset such as +01:00)`);
    if (zone.toUpperCase() !== "Z") {
      const sign = zone[0] === "-" ? -1 : 1;
      const digits = zone.slice(1).replace(":", "");
      const oh = Number(digits.slice(0, 2));
      const om = Number(digits.slice(2));
      if (oh > 23 || om > 59) throw new InputFormatError(`expires_at "${s}" has an invalid offset`);
      offsetMin = sign * (oh * 60 + om);
    }
  } else {
    throw new InputFormatError(`expires_at "${s}" is not an ISO-8601 date (e.g. 2027-03-31 or 2027-03-31T18:00:00Z)`);
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  const back = new Date(ms);
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) {
    throw new InputFormatError(`expires_at "${s}" is not a valid date`);
  }
  return BigInt(ms / 1000 - offsetMin * 60);
}

/** Unix seconds as "2027-03-31" when at midnight UTC, else "2027-03-31T18:00:00Z". */
export function formatExpiry(unixSeconds: bigint | number): string {
  const iso = new Date(Number(unixSeconds) * 1000).toISOString().replace(".000Z", "Z");
  return iso.endsWith("T00:00:00Z") ? iso.slice(0, 10) : iso;
}

/** Unix seconds as ISO 8601 UTC, always with the time: "2027-03-31T00:00:00Z" (for --json). */
export function isoUtc(unixSeconds: bigint | number): string {
  return new Date(Number(unixSeconds) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * The one JSON form of every `--json` document: bigints as numbers when they fit exactly (units,
 * ids, blocks), as decimal strings when they do not (lot ids); unix-second timestamps (keys `at`,
 * `timestamp` or ending in `At`) as ISO 8601 UTC.
 */
export function jsonValue(key: string, value: unknown): unknown {
  if ((typeof value === "bigint" || typeof value === "number") && (key === "at" || key === "timestamp" || /[a-z]At$/.test(key))) {
    return isoUtc(value);
  }
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  return value;
}

/** How a lot is named to users: "H100-80GB expiring 2027-03-31 (soulbound)". */
export function lotLabel(className: string, expiresAt: bigint, policy: TransferPolicyName): string {
  return `${className} expiring ${formatExpiry(expiresAt)} (${policy})`;
}

/** "yes/no/true/false/1/0/transferable/soulbound" to a transfer policy. */
export function parseTransferable(text: string): TransferPolicyName {
  const s = text.trim().toLowerCase();
  if (["true", "yes", "y", "1", "transferable"].includes(s)) return "transferable";
  if (["false", "no", "n", "0", "soulbound"].includes(s)) return "soulbound";
  throw new InputFormatError(`transferable "${text.trim()}" must be true or false`);
}
