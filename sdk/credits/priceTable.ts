/**
 * The price table file (config/prices.json): per model, credits per million input and output tokens
 * and the per-request model charge (model_weight × C_model); a fee per priority tier. Amounts are
 * decimal strings in credits, parsed exactly into base units. The devnet applies it at deploy.
 */
import { z } from "zod";
import { InputFormatError } from "../format.js";
import { type PriorityTier, PRIORITY_TIERS } from "./price.js";
import { parseCredits } from "./units.js";
import { FileError, firstIssue } from "../ctkError.js";
import { readJsonFile } from "../jsonFile.js";

const credits = z.union([z.string(), z.number()]).transform((v) => String(v));

const fileSchema = z
  .object({
    models: z.record(z.string().min(1).max(64), z.object({ inputPerMTok: credits, outputPerMTok: credits, requestCharge: credits }).strict()),
    priorityFees: z.object({ low: credits, normal: credits, high: credits, urgent: credits }).strict(),
  })
  .strict();

export interface ModelPriceInput {
  inputPerMTok: bigint;
  outputPerMTok: bigint;
  requestCharge: bigint;
}

/** Prices in base units, ready for `setModelPrice` / `setPriorityFees`. */
export interface PriceTable {
  models: Record<string, ModelPriceInput>;
  /** low, normal, high, urgent */
  priorityFees: [bigint, bigint, bigint, bigint];
}

export class PriceTableError extends FileError {
  constructor(file: string, detail: string) {
    super("price table", file, detail);
  }
}

const U64_MAX = 2n ** 64n - 1n;

/** Parses the price table JSON (already read) into base units. */
export function parsePriceTable(raw: unknown, file = "prices.json"): PriceTable {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new PriceTableError(file, firstIssue(parsed.error));
  const amount = (text: string, field: string) => {
    try {
      const v = parseCredits(text, field, { allowZero: true });
      if (v > U64_MAX) throw new InputFormatError(`${field} "${text}" is too large`);
      return v;
    } catch (e) {
      throw new PriceTableError(file, (e as Error).message);
    }
  };
  const models: Record<string, ModelPriceInput> = {};
  for (const [name, p] of Object.entries(parsed.data.models)) {
    const m = {
      inputPerMTok: amount(p.inputPerMTok, `${name}.inputPerMTok`),
      outputPerMTok: amount(p.outputPerMTok, `${name}.outputPerMTok`),
      requestCharge: amount(p.requestCharge, `${name}.requestCharge`),
    };
    if (m.inputPerMTok + m.outputPerMTok + m.requestCharge === 0n) {
      throw new PriceTableError(file, `${name}: all prices are zero (that would remove the model)`);
    }
    models[name] = m;
  }
  const fees = PRIORITY_TIERS.map((t: PriorityTier) => amount(parsed.data.priorityFees[t], `priorityFees.${t}`));
  return { models, priorityFees: fees as PriceTable["priorityFees"] };
}

export function readPriceTable(file: string): PriceTable {
  return parsePriceTable(
    readJsonFile(file, (detail) => new PriceTableError(file, detail)),
    file,
  );
}
