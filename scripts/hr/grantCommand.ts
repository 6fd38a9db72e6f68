/**
 * `ctk hr grant --csv grants.csv [--run 2026-11] [--dry-run]`: validates every row (listing all problems
 * with their lines, minting nothing if there is one), then sends the rows of the payroll run that are
 * not on chain yet. A row lands once per run, whatever the file's encoding, chunking or other rows
 * (sdk/grantRows.ts); the run is named by `--run`, by default the file's name without its extension.
 */
import { basename, extname } from "node:path";
import { Command } from "commander";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { type ClassTotal, type GrantPlan, type GrantRow, prepareGrants, sendGrants } from "../../sdk/grants.js";
import { InvalidRunName } from "../../sdk/grantRows.js";
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

/** The default run name: the file's name without directory and extension (grants-2026-11.csv → grants-2026-11). */
const defaultRunName = (file: string): string => basename(file, extname(file));

const planJson = (plan: GrantPlan) => ({
  run: plan.run,
  fileHash: plan.fileHash,
  alreadyGrantedRows: plan.granted.map((r) => r.line),
  pendingRows: plan.pending.length,
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
      .option("--run <name>", "the payroll run these rows belong to; each row lands once per run (default: the file's name without extension)")
      .option("--dry-run", "validate and print what would be minted and which rows the run already granted; send nothing")
      .option("--batch-size <n>", `most rows per transaction (1..${MAX_BATCH}); chunks are also cut to fit the gas cap`, String(MAX_BATCH)),
  ).action(async function (
    this: Command,
    opts: KeyOptions & { csv: string; run?: string; dryRun?: boolean; batchSize: string },
  ) {
    const globals = globalsOf(this);
    const batchSize = Number(opts.batchSize);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
      throw new UserError(`--batch-size must be a whole number from 1 to ${MAX_BATCH}`);
    }
    const run = opts.run ?? defaultRunName(opts.csv);
    const content = readInputFile(opts.csv);
    const account = opts.dryRun ? undefined : await loadAccount(opts, "HR");
    const client = await clientFor(globals, account);
    let plan: GrantPlan;
    try {
      plan = await prepareGrants(client, content, { run });
    } catch (e) {
      if (e instanceof InvalidRunName) throw new UserError(`--run: ${e.message}`);
      throw e;
    }
    if (plan.problems.length) throw problemsError(opts.csv, plan.problems, "nothing minted");

    const grantedNote = plan.granted.length
      ? `run ${run}: ${plural(plan.granted.length, "row was", "rows were")} already granted (line${plan.granted.length > 1 ? "s" : ""} ${plan.granted
          .map((r) => r.line)
          .sort((a, b) => a - b)
          .join(", ")}): not sent again`
      : undefined;
    if (!plan.pending.length) {
      output(
        globals.json,
        `${opts.csv}: every row of run ${run} was already granted (${plural(plan.granted.length, "row")}): nothing minted`,
        { file: opts.csv, alreadyGranted: true, dryRun: Boolean(opts.dryRun), rowsMinted: 0, ...planJson(plan) },
      );
      return;
    }

    if (opts.dryRun) {
      const human = [
        ...rowsTable(plan.pending),
        "",
        ...totalsTable(plan.totals, plan.pending),
        "",
        ...(grantedNote ? [grantedNote] : []),
        `dry run: nothing sent (run ${run}; a real run sends ${plural(plan.pending.length, "row")} in chunks of at most ${batchSize} rows that fit the gas cap)`,
      ];
      output(globals.json, human, { file: opts.csv, dryRun: true, rows: plan.pending.map(rowJson), ...planJson(plan) });
      return;
    }

    if (grantedNote && !globals.json) note(grantedNote);
    const bar = progressBar("granting", plan.pending.length, globals);
    let result;
    try {
      result = await sendGrants(client, plan, { batchSize, onProgress: (p) => bar.update(p.rowsDone) });
    } finally {
      bar.stop();
    }
    const human = [
      `run ${run}: granted ${plural(result.rowsMinted, "row")} (${formatHours(result.unitsMinted)} GPU-hours) in ${plural(result.batchesSent, "transaction")}, gas ${result.gasUsed.toLocaleString("en-US")}`,
      ...(result.rowsSkipped ? [`${plural(result.rowsSkipped, "row was", "rows were")} granted by another run meanwhile`] : []),
      ...result.refused.map(
        (r) => `refused by the recipient contract (not minted; a later run tries again): ${r.wallet} ${formatHours(r.units)} GPU-hours of lot ${r.lotId}`,
      ),
      "",
      ...totalsTable(plan.totals, plan.pending),
    ];
    output(globals.json, human, { file: opts.csv, dryRun: false, ...result, ...planJson(plan) });
  });
}
