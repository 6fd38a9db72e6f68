/**
 * `ctk hr grant-credits --csv credits.csv [--run credits-2026-11] [--dry-run]`: inference credits from a
 * payroll file (employee_id,wallet,credits,expires_at,transferable). The same checks, line-numbered
 * errors, dry-run table and idempotency as `ctk hr grant`: every problem listed with its line and nothing
 * granted if there is one; each row lands once per named run (by default the file's name), whatever the
 * file's encoding, the batch size or the other rows, so running the file again, or resuming it, never
 * pays a row twice (sdk/credits/grants.ts).
 */
import type { Command } from "commander";
import { type CreditBucketTotal, type CreditGrantRow, prepareCreditGrants, sendCreditGrants } from "../../sdk/credits/grants.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { formatExpiry } from "../../sdk/format.js";
import { UserError, plural, table } from "../cli/output.js";
import { grantRunCommand } from "./grantRunCommand.js";

const policy = (transferable: boolean) => (transferable ? "transferable" : "soulbound");

function rowsTable(rows: readonly CreditGrantRow[]): string[] {
  return table(
    ["line", "employee_id", "wallet", "credits", "expires_at", "policy"],
    [...rows].sort((a, b) => a.line - b.line).map((r) => [String(r.line), r.employeeId, r.wallet, formatCredits(r.amount), formatExpiry(r.expiresAt), policy(r.transferable)]),
  );
}

function totalsTable(totals: readonly CreditBucketTotal[], rows: readonly CreditGrantRow[]): string[] {
  return table(
    ["expires_at", "policy", "rows", "recipients", "credits"],
    [
      ...totals.map((t) => [formatExpiry(t.expiresAt), policy(t.transferable), String(t.rows), String(t.recipients), formatCredits(t.amount)]),
      ["total", "", String(rows.length), String(new Set(rows.map((r) => r.wallet)).size), formatCredits(rows.reduce((s, r) => s + r.amount, 0n))],
    ],
  );
}

const rowJson = (r: CreditGrantRow) => ({
  line: r.line,
  employeeId: r.employeeId,
  wallet: r.wallet,
  credits: formatCredits(r.amount),
  amount: r.amount,
  expiresAt: formatExpiry(r.expiresAt),
  transferable: r.transferable,
});

export const grantCreditsCommand = (): Command =>
  grantRunCommand({
    name: "grant-credits",
    description: "grant inference credits from credits.csv (employee_id,wallet,credits,expires_at,transferable)",
    file: "credits.csv",
    verb: "granted",
    chunks: "of one expiry and policy that fit the gas cap",
    progress: "granting credits",
    check: (client) => {
      if (!client.deployment.inferenceCredit) throw new UserError("this deployment has no InferenceCredit (redeploy the devnet with `ctk devnet up --fresh`)");
    },
    prepare: (client, content, run) => prepareCreditGrants(client, content, { run }),
    send: (client, plan, opts) => sendCreditGrants(client, plan, opts),
    rowsTable,
    totalsTable: (plan) => totalsTable(plan.totals, plan.pending),
    rowJson,
    planJson: (plan) => ({ fileHash: plan.fileHash, totals: plan.totals.map((t) => ({ ...t, expiresAt: formatExpiry(t.expiresAt) })) }),
    resultLines: (result, run) => [
      `run ${run}: granted ${plural(result.rowsMinted, "row")} (${formatCredits(result.amountMinted)} credits) in ${plural(result.batchesSent, "transaction")}, gas ${result.gasUsed.toLocaleString("en-US")}`,
      ...(result.rowsSkipped ? [`${plural(result.rowsSkipped, "row was", "rows were")} granted by another run meanwhile`] : []),
    ],
  });
