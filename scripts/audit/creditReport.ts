/**
 * The credit part of `ctk audit report` and `ctk audit statement`: credits granted, spent, expired,
 * clawed back, received and sent — in total, per holder and per month — from InferenceCredit's events
 * (sdk/credits/audit.ts). Per model needs the gateway's usage records (the chain sees only amounts).
 */
import type { Address } from "viem";
import { auditCredits, type CreditAudit, type CreditTotals } from "../../sdk/credits/audit.js";
import { formatCredits } from "../../sdk/credits/units.js";
import type { ReadContext } from "../wallet/context.js";

export const CREDIT_MEASURES = ["granted", "spent", "expired", "clawedBack", "transferredIn", "transferredOut"] as const satisfies readonly (keyof CreditTotals)[];

export interface CreditReport {
  inferenceCredit: Address;
  priceVersion: bigint;
  usageBatches: number;
  charges: number;
  totals: CreditTotals;
  holders: ({ holder: Address } & CreditTotals)[];
  months: ({ month: string } & CreditTotals)[];
}

/** The credit audit of the context's deployment up to `toBlock`; undefined when it has no InferenceCredit. */
export async function auditDeploymentCredits(ctx: Pick<ReadContext, "deployment" | "publicClient">, toBlock: bigint, compare = false): Promise<CreditAudit | undefined> {
  const { inferenceCredit, chainId, deployBlock } = ctx.deployment;
  if (!inferenceCredit) return undefined;
  return auditCredits({ client: ctx.publicClient, inferenceCredit, chainId, fromBlock: BigInt(deployBlock), toBlock, ...(compare && { compare }) });
}

export function creditReportOf(audit: CreditAudit, inferenceCredit: Address): CreditReport {
  const r = audit.replay;
  return {
    inferenceCredit,
    priceVersion: r.priceVersion,
    usageBatches: r.usageBatchCount,
    charges: r.chargeCount,
    totals: r.totals,
    holders: [...r.perHolder].sort(([a], [b]) => (a < b ? -1 : 1)).map(([holder, t]) => ({ holder, ...t })),
    months: [...r.perMonth].sort(([a], [b]) => (a < b ? -1 : 1)).map(([month, t]) => ({ month, ...t })),
  };
}

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
  ].join("\n");
}

const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

export function creditHtml(c: CreditReport): string {
  const th = CREDIT_MEASURES.map((m) => `<th>${esc(snake(m).replace(/_/g, " "))}</th>`).join("");
  const row = (label: string, t: CreditTotals) => `<tr><td class="addr">${esc(label)}</td>${CREDIT_MEASURES.map((m) => `<td>${formatCredits(t[m])}</td>`).join("")}</tr>`;
  return `<section id="credits"><h2>Inference credits</h2>
<p>InferenceCredit ${esc(c.inferenceCredit)} — ${c.usageBatches} usage batches, ${c.charges} charges, price version ${c.priceVersion}. Total: granted ${formatCredits(c.totals.granted)}, spent ${formatCredits(c.totals.spent)}, expired ${formatCredits(c.totals.expired)}, clawed back ${formatCredits(c.totals.clawedBack)} credits.</p>
<table><thead><tr><th>holder</th>${th}</tr></thead><tbody>${c.holders.map((h) => row(h.holder, h)).join("")}</tbody></table>
<table><thead><tr><th>month</th>${th}</tr></thead><tbody>${c.months.map((m) => row(m.month, m)).join("")}</tbody></table>
</section>`;
}
