/**
 * `ctk hr grant --csv grants.csv [--run 2026-11] [--dry-run]`: validates every row (listing all problems
 * with their lines, minting nothing if there is one), then sends the rows of the payroll run that are
 * not on chain yet. A row lands once per run, whatever the file's encoding, chunking or other rows
 * (sdk/grantRows.ts); the run is named by `--run`, by default the file's name without its extension.
 */
import type { Command } from "commander";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { type ClassTotal, type GrantRow, prepareGrants, sendGrants } from "../../sdk/grants.js";
import { plural, table } from "../cli/output.js";
import { grantRunCommand } from "./grantRunCommand.js";

function rowsTable(rows: readonly GrantRow[]): string[] {
  return table(
    ["line", "employee_id", "wallet", "class", "gpu_hours", "expires_at", "policy"],
    [...rows].sort((a, b) => a.line - b.line).map((r) => [String(r.line), r.employeeId, r.wallet, r.className, formatHours(r.units), formatExpiry(r.expiresAt), r.policy]),
  );
}

function totalsTable(totals: readonly ClassTotal[], rows: readonly GrantRow[]): string[] {
  const sum = totals.reduce((s, t) => ({ rows: s.rows + t.rows, units: s.units + t.units }), { rows: 0, units: 0n });
  const recipients = new Set(rows.map((r) => r.wallet)).size;
  return table(
    ["class", "rows", "recipients", "gpu_hours", "gpu_seconds"],
    [
      ...totals.map((t) => [t.className, String(t.rows), String(t.recipients), formatHours(t.units), t.units.toString()]),
      ["total", String(sum.rows), String(recipients), formatHours(sum.units), sum.units.toString()],
    ],
  );
}

const rowJson = (r: GrantRow) => ({
  line: r.line,
  employeeId: r.employeeId,
  wallet: r.wallet,
  class: r.className,
  gpuSeconds: r.units,
  expiresAt: formatExpiry(r.expiresAt),
  policy: r.policy,
});

export const grantCommand = (): Command =>
  grantRunCommand({
    name: "grant",
    description: "grant GPU-hours from grants.csv (employee_id,wallet,class,gpu_hours,expires_at,transferable)",
    file: "grants.csv",
    verb: "minted",
    chunks: "that fit the gas cap",
    progress: "granting",
    prepare: (client, content, run) => prepareGrants(client, content, { run }),
    send: (client, plan, opts) => sendGrants(client, plan, opts),
    rowsTable,
    totalsTable: (plan) => totalsTable(plan.totals, plan.pending),
    rowJson,
    planJson: (plan) => ({ fileHash: plan.fileHash, totals: plan.totals }),
    resultLines: (result, run) => [
      `run ${run}: granted ${plural(result.rowsMinted, "row")} (${formatHours(result.unitsMinted)} GPU-hours) in ${plural(result.batchesSent, "transaction")}, gas ${result.gasUsed.toLocaleString("en-US")}`,
      ...(result.rowsSkipped ? [`${plural(result.rowsSkipped, "row was", "rows were")} granted by another run meanwhile`] : []),
      ...result.refused.map((r) => `refused by the recipient contract (not minted; a later run tries again): ${r.wallet} ${formatHours(r.units)} GPU-hours of lot ${r.lotId}`),
    ],
  });
