/**
 * The one flow of `ctk hr grant` and `ctk hr grant-credits`: a payroll file sent as a named run
 * (`--run`, by default the file's name), each row landing once per run (sdk/grantRun.ts). Every problem
 * is listed with its line and nothing is sent if there is one; `--dry-run` prints the rows still to send,
 * their totals and the rows the run already granted; a real run sends the rest and says what landed.
 */
import { basename, extname } from "node:path";
import { Command } from "commander";
import type { CtkClient } from "../../sdk/client.js";
import type { GrantProgress } from "../../sdk/grantRun.js";
import { InvalidRunName } from "../../sdk/grantRows.js";
import { MAX_BATCH, type RowProblem } from "../../sdk/holders.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, note, output, plural } from "../cli/output.js";
import { progressBar } from "../cli/progress.js";
import { problemsError, readInputFile } from "./readInput.js";

/** The default run name: the file's name without directory and extension (grants-2026-11.csv → grants-2026-11). */
export const defaultRunName = (file: string): string => basename(file, extname(file));

interface RunPlan<Row extends { line: number }> {
  run: string;
  problems: RowProblem[];
  granted: Row[];
  pending: Row[];
}

/** What differs between the tokens. */
export interface GrantRunCommandSpec<Row extends { line: number }, Plan extends RunPlan<Row>, Result> {
  name: string;
  description: string;
  /** The file option's help ("grants.csv"). */
  file: string;
  /** What a run does to units ("minted", "granted"). */
  verb: string;
  /** How chunks are cut, for the dry run's last line ("that fit the gas cap"). */
  chunks: string;
  /** The progress bar's label. */
  progress: string;
  /** Refuses a deployment the command cannot serve. */
  check?(client: CtkClient): void;
  prepare(client: CtkClient, content: Uint8Array, run: string): Promise<Plan>;
  send(client: CtkClient, plan: Plan, opts: { batchSize: number; onProgress: (p: GrantProgress) => void }): Promise<Result>;
  rowsTable(rows: readonly Row[]): string[];
  totalsTable(plan: Plan): string[];
  rowJson(row: Row): unknown;
  /** The plan as JSON (beside run, alreadyGrantedRows and pendingRows). */
  planJson(plan: Plan): object;
  /** What a real run says it did. */
  resultLines(result: Result, run: string): string[];
}

export function grantRunCommand<Row extends { line: number }, Plan extends RunPlan<Row>, Result extends object>(spec: GrantRunCommandSpec<Row, Plan, Result>): Command {
  return withKeyOptions(
    new Command(spec.name)
      .description(spec.description)
      .requiredOption("--csv <file>", spec.file)
      .option("--run <name>", "the payroll run these rows belong to; each row lands once per run (default: the file's name without extension)")
      .option("--dry-run", `validate and print what would be ${spec.verb} and which rows the run already granted; send nothing`)
      .option("--batch-size <n>", `most rows per transaction (1..${MAX_BATCH}); chunks are also cut to fit the gas cap`, String(MAX_BATCH)),
  ).action(async function (this: Command, opts: KeyOptions & { csv: string; run?: string; dryRun?: boolean; batchSize: string }) {
    const globals = globalsOf(this);
    const batchSize = Number(opts.batchSize);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
      throw new UserError(`--batch-size must be a whole number from 1 to ${MAX_BATCH}`);
    }
    const run = opts.run ?? defaultRunName(opts.csv);
    const content = readInputFile(opts.csv);
    const account = opts.dryRun ? undefined : await loadAccount(opts, "HR");
    const client = await clientFor(globals, account);
    spec.check?.(client);
    let plan: Plan;
    try {
      plan = await spec.prepare(client, content, run);
    } catch (e) {
      if (e instanceof InvalidRunName) throw new UserError(`--run: ${e.message}`);
      throw e;
    }
    if (plan.problems.length) throw problemsError(opts.csv, plan.problems, `nothing ${spec.verb}`);

    const grantedLines = plan.granted.map((r) => r.line).sort((a, b) => a - b);
    const json = { run, alreadyGrantedRows: grantedLines, pendingRows: plan.pending.length, ...spec.planJson(plan) };
    if (!plan.pending.length) {
      output(globals.json, `${opts.csv}: every row of run ${run} was already granted (${plural(plan.granted.length, "row")}): nothing ${spec.verb}`, {
        file: opts.csv,
        alreadyGranted: true,
        dryRun: Boolean(opts.dryRun),
        rowsMinted: 0,
        ...json,
      });
      return;
    }
    const grantedNote = grantedLines.length
      ? `run ${run}: ${plural(grantedLines.length, "row was", "rows were")} already granted (line${grantedLines.length > 1 ? "s" : ""} ${grantedLines.join(", ")}): not sent again`
      : undefined;
    if (opts.dryRun) {
      const human = [
        ...spec.rowsTable(plan.pending),
        "",
        ...spec.totalsTable(plan),
        "",
        ...(grantedNote ? [grantedNote] : []),
        `dry run: nothing sent (run ${run}; a real run sends ${plural(plan.pending.length, "row")} in chunks of at most ${batchSize} rows ${spec.chunks})`,
      ];
      output(globals.json, human, { file: opts.csv, dryRun: true, rows: plan.pending.map((r) => spec.rowJson(r)), ...json });
      return;
    }

    if (grantedNote && !globals.json) note(grantedNote);
    const bar = progressBar(spec.progress, plan.pending.length, globals);
    let result: Result;
    try {
      result = await spec.send(client, plan, { batchSize, onProgress: (p) => bar.update(p.rowsDone) });
    } finally {
      bar.stop();
    }
    output(globals.json, [...spec.resultLines(result, run), "", ...spec.totalsTable(plan)], { file: opts.csv, dryRun: false, ...result, ...json });
  });
}
