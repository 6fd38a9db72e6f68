/**
 * The credit part of `ctk audit report` and `ctk audit statement`: credits granted, spent, expired,
 * clawed back, received and sent, and usage owed — in total, per holder and per month — from InferenceCredit's events
 * (sdk/credits/audit.ts). Per model needs the gateway's usage records (the chain sees only amounts):
 * with `--usage <dir>` the records are verified against the on-chain batch roots and prices first
 * (sdk/credits/verifyUsage.ts), then each charge is shared out over its records' models
 * (sdk/credits/spendByModel.ts).
 */
import type { Address, PublicClient } from "viem";
import { auditCredits, type CreditAudit, type CreditCharge, type CreditTotals } from "../../sdk/credits/audit.js";
import { type HolderModelSpend, type ModelSpend, type SpendByModel, spendByModel } from "../../sdk/credits/spendByModel.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { verifyUsageRecords } from "../../sdk/credits/verifyUsage.js";
import type { Deployment } from "../../sdk/deployment.js";
import { UserError } from "../cli/output.js";
import type { ReadContext } from "../wallet/context.js";

/** Said wherever per-model totals would be, when no records were given. */
export const PER_MODEL_NEEDS_RECORDS = "per-model totals need the gateway's usage records: add --usage <dir> (its records, verified against the chain first)";

/**
 * Verifies a gateway's usage records against the chain (roots, prices, sums per authorization) and
 * shares the on-chain charges out per model; records that do not verify are a {@link UserError}.
 */
export async function verifiedSpendByModel(o: { publicClient: PublicClient; deployment: Deployment; dir: string }, charges: readonly CreditCharge[]): Promise<SpendByModel> {
  if (!o.deployment.inferenceCredit) throw new UserError("--usage: this deployment has no InferenceCredit");
  const v = await verifyUsageRecords({
    publicClient: o.publicClient as never,
    inferenceCredit: o.deployment.inferenceCredit,
    fromBlock: BigInt(o.deployment.deployBlock),
    dir: o.dir,
  });
  // A request served after its authorization ended is `ctk audit verify`'s finding; the records still
  // match the chain, and their totals per model stand.
  const mismatches = v.findings.filter((f) => f.code !== "AFTER_END");
  if (mismatches.length) {
    throw new UserError(
      `--usage ${o.dir}: the usage records do not match the chain (${mismatches.length} finding${mismatches.length === 1 ? "" : "s"}); no per-model totals from them`,
      mismatches.map((f) => `  [${f.code}] ${f.message}`),
    );
  }
  return spendByModel(v.usage, charges);
}

export const MODEL_HEAD = ["model", "requests", "tokens_in", "tokens_out", "credits_requested", "credits_spent"] as const;
export const modelCells = (m: ModelSpend): string[] => [m.model, String(m.requests), String(m.tokensIn), String(m.tokensOut), formatCredits(m.requested), formatCredits(m.spent)];
const holderModelCells = (h: HolderModelSpend): string[] => [h.holder, h.month, ...modelCells(h)];

/**
 * The columns, in order. `spent` includes usage debts paid from credits received later; `owed` is the
 * usage debt incurred less paid: per holder (and in total), what is still owed at the report's end
 * block; per month, how much it grew (negative: paid down). `spent + owed` is what authorizations charged.
 */
const CREDIT_MEASURES = ["granted", "spent", "expired", "clawedBack", "transferredIn", "transferredOut", "owed"] as const satisfies readonly (keyof CreditTotals)[];

/** Said beside a non-zero `owed` total. */
const OWED_NOTE = "usage served after the holders' credits had moved out or expired, paid from the next credits they receive";

export interface CreditReport {
  inferenceCredit: Address;
  priceVersion: bigint;
  usageBatches: number;
  charges: number;
  totals: CreditTotals;
  holders: ({ holder: Address } & CreditTotals)[];
  months: ({ month: string } & CreditTotals)[];
  /** Per model (and per holder, month and model), from verified usage records; null without them. */
  models: ModelSpend[] | null;
  holderModels: HolderModelSpend[] | null;
  modelsNote?: string;
}

/** The credit audit of the context's deployment up to `toBlock`; undefined when it has no InferenceCredit. */
export async function auditDeploymentCredits(ctx: Pick<ReadContext, "deployment" | "publicClient">, toBlock: bigint, compare = false): Promise<CreditAudit | undefined> {
  const { inferenceCredit, chainId, deployBlock } = ctx.deployment;
  if (!inferenceCredit) return undefined;
  return auditCredits({ client: ctx.publicClient, inferenceCredit, chainId, fromBlock: BigInt(deployBlock), toBlock, ...(compare && { compare }) });
}

export function creditReportOf(audit: CreditAudit, inferenceCredit: Address, byModel?: SpendByModel): CreditReport {
  const r = audit.replay;
  return {
    inferenceCredit,
    priceVersion: r.priceVersion,
    usageBatches: r.usageBatchCount,
    charges: r.chargeCount,
    totals: r.totals,
    holders: [...r.perHolder].sort(([a], [b]) => (a < b ? -1 : 1)).map(([holder, t]) => ({ holder, ...t })),
    months: [...r.perMonth].sort(([a], [b]) => (a < b ? -1 : 1)).map(([month, t]) => ({ month, ...t })),
    models: byModel?.models ?? null,
    holderModels: byModel?.holders ?? null,
    ...(byModel ? {} : { modelsNote: PER_MODEL_NEEDS_RECORDS }),
  };
}

/** A CSV field, quoted when it holds a comma, a quote or a line break (model names are free text). */
export const csvCell = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

const snake = (m: string) => m.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Two CSV tables (per holder, per month), credits with 6 decimals, after a `# credits` line. */
export function creditCsv(c: CreditReport): string {
  const head = CREDIT_MEASURES.map(snake).join(",");
  return [
    "# inference credits per holder",
    `holder,${head}`,
    ...c.holders.map((h) => [h.holder, ...CREDIT_MEASURES.map((m) => formatCredits(h[m]))].join(",")),
    "# inference credits per month",
    `month,${head}`,
    ...c.months.map((m) => [m.month, ...CREDIT_MEASURES.map((k) => formatCredits(m[k]))].join(",")),
    ...(c.models && c.holderModels
      ? [
          "# inference credits per model (from the gateway's usage records, verified against the chain)",
          MODEL_HEAD.join(","),
          ...c.models.map((m) => modelCells(m).map(csvCell).join(",")),
          "# inference credits per holder, month and model",
          ["holder", "month", ...MODEL_HEAD].join(","),
          ...c.holderModels.map((h) => holderModelCells(h).map(csvCell).join(",")),
        ]
      : [`# ${PER_MODEL_NEEDS_RECORDS}`]),
  ].join("\n");
}

const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

export function creditHtml(c: CreditReport): string {
  const th = CREDIT_MEASURES.map((m) => `<th>${esc(snake(m).replace(/_/g, " "))}</th>`).join("");
  const row = (label: string, t: CreditTotals) => `<tr><td class="addr">${esc(label)}</td>${CREDIT_MEASURES.map((m) => `<td>${formatCredits(t[m])}</td>`).join("")}</tr>`;
  return `<section id="credits"><h2>Inference credits</h2>
<p>InferenceCredit ${esc(c.inferenceCredit)} — ${c.usageBatches} usage batches, ${c.charges} charges, price version ${c.priceVersion}. Total: granted ${formatCredits(c.totals.granted)}, spent ${formatCredits(c.totals.spent)}, expired ${formatCredits(c.totals.expired)}, clawed back ${formatCredits(c.totals.clawedBack)} credits${c.totals.owed ? `; owed ${formatCredits(c.totals.owed)} (${esc(OWED_NOTE)})` : ""}.</p>
<table><thead><tr><th>holder</th>${th}</tr></thead><tbody>${c.holders.map((h) => row(h.holder, h)).join("")}</tbody></table>
<table><thead><tr><th>month</th>${th}</tr></thead><tbody>${c.months.map((m) => row(m.month, m)).join("")}</tbody></table>
${
  c.models && c.holderModels
    ? `<h3>Per model (from the gateway's usage records, verified against the chain)</h3>
<table><thead><tr>${MODEL_HEAD.map((h) => `<th>${esc(h.replace(/_/g, " "))}</th>`).join("")}</tr></thead><tbody>${c.models
        .map(
          (m) =>
            `<tr>${modelCells(m)
              .map((x) => `<td>${esc(x)}</td>`)
              .join("")}</tr>`,
        )
        .join("")}</tbody></table>
<table><thead><tr><th>holder</th><th>month</th>${MODEL_HEAD.map((h) => `<th>${esc(h.replace(/_/g, " "))}</th>`).join("")}</tr></thead><tbody>${c.holderModels
        .map(
          (h) =>
            `<tr>${holderModelCells(h)
              .map((x) => `<td>${esc(x)}</td>`)
              .join("")}</tr>`,
        )
        .join("")}</tbody></table>`
    : `<p>${esc(PER_MODEL_NEEDS_RECORDS)}.</p>`
}
</section>`;
}
