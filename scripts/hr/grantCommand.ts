/**
 * `ctk hr grant --csv grants.csv [--dry-run]`: validates every row (listing all problems with their
 * lines, minting nothing if there is one), then sends the file in batches whose batchRef derives from
 * the file's content, so the same file never mints twice and an interrupted run resumes.
 */
import { Command } from "commander";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { type ClassTotal, type GrantPlan, type GrantRow, prepareGrants, sendGrants } from "../../sdk/grants.js";
import { MAX_BATCH } from "../../sdk/holders.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, note, output, plural, table } from "../cli/output.js";
import { progressBar } from "../cli/progress.js";
import { problemsError, readInputFile } from "./readInput.js";

function rowsTable(rows: readonly GrantRow[]): string[] {
  return table(
    ["line", "employee_id", "wallet", "class", "gpu_hours", "expires_at", "policy"],
    [...rows]
      .sort((a, b) => a.line - b.line)
      .map((r) => [String(r.line), r.employeeId, r.wallet, r.className, formatHours(r.units), formatExpiry(r.expiresAt), r.policy]),
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

const planJson = (plan: GrantPlan) => ({
  fileHash: plan.fileHash,
  batches: plan.batches.length,
  pendingBatches: plan.pending.map((b) => ({ index: b.index, count: b.count, batchRef: b.batchRef, rows: b.rows.length, units: b.units })),
  totals: plan.totals,
});

const rowJson = (r: GrantRow) => ({
  line: r.line,
  employeeId: r.employeeId,
  wallet: r.wallet,
  class: r.className,
  gpuSeconds: r.units,
  expiresAt: formatExpiry(r.expiresAt),
  policy: r.policy,
});

export function grantCommand(): Command {
  return withKeyOptions(
    new Command("grant")
      .description("grant GPU-hours from grants.csv (employee_id,wallet,class,gpu_hours,expires_at,transferable)")
      .requiredOption("--csv <file>", "grants.csv")
      .option("--dry-run", "validate and print what would be minted; send nothing")
      .option("--batch-size <n>", `rows per transaction (1..${MAX_BATCH})`, String(MAX_BATCH)),
  ).action(async function (
    this: Command,
    opts: KeyOptions & { csv: string; dryRun?: boolean; batchSize: string },
  ) {
    const globals = globalsOf(this);
    const batchSize = Number(opts.batchSize);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
      throw new UserError(`--batch-size must be a whole number from 1 to ${MAX_BATCH}`);
    }
    const content = readInputFile(opts.csv);
    const account = opts.dryRun ? undefined : await loadAccount(opts, "HR");
    const client = await clientFor(globals, account);
    const plan = await prepareGrants(client, content, { batchSize });
    if (plan.problems.length) throw problemsError(opts.csv, plan.problems, "nothing minted");

    const done = plan.batches.length - plan.pending.length;
    const pendingRows = plan.pending.flatMap((b) => b.rows);
    if (!plan.pending.length) {
      const rows = plan.batches.reduce((s, b) => s + b.rows.length, 0);
      output(
        globals.json,
        `${opts.csv} was already granted (${plural(plan.batches.length, "batch", "batches")}, ${plural(rows, "row")}): nothing minted`,
        { file: opts.csv, alreadyGranted: true, dryRun: Boolean(opts.dryRun), rowsMinted: 0, ...planJson(plan) },
      );
      return;
    }
    const resumeNote = done
      ? `resuming: ${done} of ${plural(plan.batches.length, "batch", "batches")} were granted by an earlier run`
      : undefined;

    if (opts.dryRun) {
      const human = [
        ...rowsTable(pendingRows),
        "",
        ...totalsTable(plan.totals, pendingRows),
        "",
        ...(resumeNote ? [resumeNote] : []),
        `dry run: nothing sent (a real run sends ${plural(plan.pending.length, "batch", "batches")} of at most ${batchSize} rows)`,
      ];
      output(globals.json, human, { file: opts.csv, dryRun: true, rows: pendingRows.map(rowJson), ...planJson(plan) });
      return;
    }

    if (resumeNote && !globals.json) note(resumeNote);
    const bar = progressBar("granting", pendingRows.length, globals);
    let result;
    try {
      result = await sendGrants(client, plan, { onProgress: (p) => bar.update(p.rowsDone) });
    } finally {
      bar.stop();
    }
    const human = [
      `granted ${plural(result.rowsMinted, "row")} (${formatHours(result.unitsMinted)} GPU-hours) in ${plural(result.batchesSent, "batch", "batches")}, gas ${result.gasUsed.toLocaleString("en-US")}`,
      ...(result.batchesSkipped ? [`${plural(result.batchesSkipped, "batch was", "batches were")} granted by another run meanwhile`] : []),
      "",
      ...totalsTable(plan.totals, pendingRows),
    ];
    output(globals.json, human, { file: opts.csv, dryRun: false, resumedAfter: done, ...result, ...planJson(plan) });
  });
}
