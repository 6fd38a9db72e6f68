/**
 * Credits as users see them. InferenceCredit has 6 decimals: 1 credit = 1,000,000 base units.
 * Parsing is exact (decimal strings, bigint arithmetic), like GPU-hours in ../format.ts.
 */
import { InputFormatError } from "../format.js";

export const CREDIT_DECIMALS = 6;
export const BASE_UNITS_PER_CREDIT = 1_000_000n;

const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * Credits (a decimal string such as "25", "0.5", "0.000001") to base units. `field` names the input
 * in the error. Throws {@link InputFormatError} for malformed, negative or sub-base-unit amounts;
 * zero passes only with `allowZero`.
 */
export function parseCredits(text: string, field = "credits", opts: { allowZero?: boolean } = {}): bigint {
  const s = text.trim();
  if (s.startsWith("-")) throw new InputFormatError(`${field} "${s}" is negative`);
  if (!DECIMAL.test(s)) throw new InputFormatError(`${field} "${s}" is not a number`);
  const [whole, frac = ""] = s.split(".");
  if (frac.replace(/0+$/, "").length > CREDIT_DECIMALS) {
    throw new InputFormatError(`${field} "${s}" has more than ${CREDIT_DECIMALS} decimals (1 base unit = 0.000001 credit)`);
  }
  const units = BigInt(whole) * BASE_UNITS_PER_CREDIT + BigInt(`${frac}000000`.slice(0, CREDIT_DECIMALS));
  if (units === 0n && !opts.allowZero) throw new InputFormatError(`${field} "${s}" is not positive`);
  return units;
}

/** Base units as credits, exact: "25", "0.5", "0.000001". */
export function formatCredits(units: bigint): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const whole = abs / BASE_UNITS_PER_CREDIT;
  const frac = (abs % BASE_UNITS_PER_CREDIT).toString().padStart(CREDIT_DECIMALS, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}
