/**
 * `ctk hr grant-credits --csv credits.csv [--dry-run]`: inference credits from a payroll file
 * (employee_id,wallet,credits,expires_at,transferable). The same checks, line-numbered errors, dry-run
 * table and idempotency as `ctk hr grant`: every problem listed with its line and nothing granted if
 * there is one; batches whose batchRef derives from the file's rows (normalised), so running the file
 * again, or resuming it, never pays a row twice.
 */
import { Command } from "commander";
import { type CreditGrantBatch, type CreditGrantRow, prepareCreditGrants, sendCreditGrants } from "../../sdk/credits/grants.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { formatExpiry } from "../../sdk/format.js";
import { MAX_BATCH } from "../../sdk/holders.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, note, output, plural, table } from "../cli/output.js";
import { progressBar } from "../cli/progress.js";
import { problemsError, readInputFile } from "./readInput.js";

const policy = (transferable: boolean) => (transferable ? "transferable" : "soulbound");

function rowsTable(rows: readonly CreditGrantRow[]): string[] {
  return table(
    ["line", "employee_id", "wallet", "credits", "expires_at", "policy"],
    [...rows].sort((a, b) => a.line - b.line).map((r) => [String(r.line), r.employeeId, r.wallet, formatCredits(r.amount), formatExpiry(r.expiresAt), policy(r.transferable)]),
  );
}

function totalsTable(batches: readonly CreditGrantBatch[]): string[] {
  const groups = new Map<string, { expiresAt: bigint; transferable: boolean; rows: number; wallets: Set<string>; amount: bigint }>();
  for (const b of batches) {
    const k = `${b.expiresAt}|${b.transferable}`;
    const g = groups.get(k) ?? { expiresAt: b.expiresAt, transferable: b.transferable, rows: 0, wallets: new Set<string>(), amount: 0n };
    g.rows += b.rows.length;
    for (const r of b.rows) g.wallets.add(r.wallet);
    g.amount += b.amount;
    groups.set(k, g);
  }
  const all = [...groups.values()];
  const total = all.reduce((s, g) => s + g.amount, 0n);
  const recipients = new Set(batches.flatMap((b) => b.rows.map((r) => r.wallet))).size;
  return table(
    ["expires_at", "policy", "rows", "recipients", "credits"],
    [
      ...all.map((g) => [formatExpiry(g.expiresAt), policy(g.transferable), String(g.rows), String(g.wallets.size), formatCredits(g.amount)]),
      ["total", "", String(all.reduce((s, g) => s + g.rows, 0)), String(recipients), formatCredits(total)],
    ],
  );
}

const batchJson = (b: CreditGrantBatch) => ({
  batchRef: b.batchRef,
  expiresAt: formatExpiry(b.expiresAt),
  transferable: b.transferable,
  rows: b.rows.length,
  amount: b.amount,
});

const rowJson = (r: CreditGrantRow) => ({
  line: r.line,
  employeeId: r.employeeId,
  wallet: r.wallet,
  credits: formatCredits(r.amount),
  amount: r.amount,
  expiresAt: formatExpiry(r.expiresAt),
  transferable: r.transferable,
});

export function grantCreditsCommand(): Command {
  return withKeyOptions(
    new Command("grant-credits")
      .description("grant inference credits from credits.csv (employee_id,wallet,credits,expires_at,transferable)")
      .requiredOption("--csv <file>", "credits.csv")
      .option("--dry-run", "validate and print what would be granted; send nothing")
      .option("--batch-size <n>", `rows per transaction (1..${MAX_BATCH})`, String(MAX_BATCH)),
  ).action(async function (this: Command, opts: KeyOptions & { csv: string; dryRun?: boolean; batchSize: string }) {
    const globals = globalsOf(this);
    const batchSize = Number(opts.batchSize);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
      throw new UserError(`--batch-size must be a whole number from 1 to ${MAX_BATCH}`);
    }
    const content = readInputFile(opts.csv);
    const account = opts.dryRun ? undefined : await loadAccount(opts, "HR");
    const client = await clientFor(globals, account);
    if (!client.deployment.inferenceCredit) throw new UserError("this deployment has no InferenceCredit (redeploy the devnet with `ctk devnet up --fresh`)");
    const plan = await prepareCreditGrants(client, content, { batchSize });
    if (plan.problems.length) throw problemsError(opts.csv, plan.problems, "nothing granted");

    const done = plan.batches.length - plan.pending.length;
    const pendingRows = plan.pending.flatMap((b) => b.rows);
    if (!plan.pending.length) {
      output(
        globals.json,
        `${opts.csv} was already granted (${plural(plan.batches.length, "batch", "batches")}, ${plural(plan.rows.length, "row")}): nothing granted`,
        { file: opts.csv, alreadyGranted: true, dryRun: Boolean(opts.dryRun), rowsGranted: 0, batches: plan.batches.map(batchJson) },
      );
      return;
    }
    const resumeNote = done ? `resuming: ${done} of ${plural(plan.batches.length, "batch", "batches")} were granted by an earlier run` : undefined;
    if (opts.dryRun) {
      output(
        globals.json,
        [
          ...rowsTable(pendingRows),
          "",
          ...totalsTable(plan.pending),
          "",
          ...(resumeNote ? [resumeNote] : []),
          `dry run: nothing sent (a real run sends ${plural(plan.pending.length, "batch", "batches")}: one per expiry and policy, at most ${batchSize} rows each)`,
        ],
        { file: opts.csv, dryRun: true, rows: pendingRows.map(rowJson), pendingBatches: plan.pending.map(batchJson), batches: plan.batches.length },
      );
      return;
    }
    if (resumeNote && !globals.json) note(resumeNote);
    const bar = progressBar("granting credits", pendingRows.length, globals);
    let result;
    try {
      result = await sendCreditGrants(client, plan, (rows) => bar.update(rows));
    } finally {
      bar.stop();
    }
    output(
      globals.json,
      [
        `granted ${plural(result.rowsGranted, "row")} (${formatCredits(result.amountGranted)} credits) in ${plural(result.batchesSent, "batch", "batches")}, gas ${result.gasUsed.toLocaleString("en-US")}`,
        ...(result.batchesSkipped ? [`${plural(result.batchesSkipped, "batch was", "batches were")} granted by another run meanwhile`] : []),
        "",
        ...totalsTable(plan.pending),
      ],
      { file: opts.csv, dryRun: false, resumedAfter: done, ...result, pendingBatches: plan.pending.map(batchJson) },
    );
  });
}
