/**
 * `ctk audit report --format json|csv|html --out <file>`: per holder and class — granted, received,
 * sent, redeemed, consumed, refunded, expired, clawed back — in total and per month, from events only.
 */
import { writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { RpcRequest } from "../../sdk/logs/fetchLogRanges.js";
import { stderrProgress } from "../cli/progress.js";
import { ReportBuilder, type AuditReport } from "../../sdk/audit/report.js";
import { replayDeployment } from "../../sdk/audit/verify.js";
import type { PublicClient } from "viem";
import type { Deployment } from "../../sdk/deployment.js";
import { parseEmployeesCsv } from "../../sdk/holders.js";
import { UserError, output } from "../cli/output.js";
import { readInputFile } from "../hr/readInput.js";
import { readContext } from "../wallet/context.js";
import { type EmployeeNames, reportCsv, reportHtml, reportJson } from "./renderReport.js";
import { auditDeploymentCredits, creditCsv, creditHtml, creditReportOf, verifiedSpendByModel } from "./creditReport.js";
import { toJson } from "./format.js";

/** Wallet (lower-case) → employee id, from HR's employees file. */
function readEmployeeNames(file: string): EmployeeNames {
  const { rows, problems } = parseEmployeesCsv(readInputFile(file).toString("utf8"));
  if (problems.length > 0)
    throw new UserError(
      `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      problems.map((p) => `  line ${p.line}: ${p.message}`),
    );
  return new Map(rows.map((r) => [r.wallet.toLowerCase(), r.employeeId]));
}

export async function buildReport(
  client: PublicClient,
  deployment: Deployment,
  opts: { toBlock?: bigint; chunkBlocks?: bigint; progress?: boolean; logRequest?: RpcRequest } = {},
): Promise<AuditReport> {
  const builder = new ReportBuilder();
  const run = await replayDeployment({
    client,
    deployment,
    logRequest: opts.logRequest,
    toBlock: opts.toBlock,
    chunkBlocks: opts.chunkBlocks,
    onMovement: builder.add,
    onProgress: opts.progress ? stderrProgress("replaying") : undefined,
  });
  return builder.build(run.replay, {
    chainId: deployment.chainId,
    computeToken: deployment.computeToken,
    fromBlock: BigInt(deployment.deployBlock),
    toBlock: run.head.blockNumber,
    asOf: run.head.timestamp,
  });
}

export function reportCommand(): Command {
  return new Command("report")
    .description("per holder and class: granted, received, sent, redeemed, consumed, refunded, expired, clawed back — total and per month; inference credits per holder and month")
    .addOption(new Option("--format <format>", "output format").choices(["json", "csv", "html"]).makeOptionMandatory())
    .requiredOption("--out <file>", "file to write")
    .option("--to-block <n>", "replay up to this block (default: latest)")
    .option("--chunk-blocks <n>", "most blocks per eth_getLogs request (ranges shrink where the history is dense)", "2000")
    .option("--employees <csv>", "HR's employees file (employee_id,wallet): name holders by employee id")
    .option("--usage <dir>", "a gateway's usage records (<batchId>.jsonl): verified against the chain, they give credits spent per model")
    .option("--no-progress", "no progress bar on stderr")
    .action(async function (
      this: Command,
      opts: { format: "json" | "csv" | "html"; out: string; toBlock?: string; chunkBlocks: string; progress: boolean; employees?: string; usage?: string },
    ) {
      const names = opts.employees ? readEmployeeNames(opts.employees) : undefined;
      const ctx = readContext(this);
      const report = await buildReport(ctx.publicClient, ctx.deployment, {
        toBlock: opts.toBlock ? BigInt(opts.toBlock) : undefined,
        chunkBlocks: BigInt(opts.chunkBlocks),
        progress: opts.progress,
        logRequest: ctx.logRequest,
      });
      if (opts.usage && !ctx.deployment.inferenceCredit) throw new UserError("--usage: this deployment has no InferenceCredit");
      let text = opts.format === "json" ? reportJson(report, names) : opts.format === "csv" ? reportCsv(report, names) : reportHtml(report, names);
      const audit = await auditDeploymentCredits(ctx, report.toBlock);
      if (audit && ctx.deployment.inferenceCredit) {
        const byModel = opts.usage ? await verifiedSpendByModel({ publicClient: ctx.publicClient, deployment: ctx.deployment, dir: opts.usage }, audit.replay.charges) : undefined;
        const credits = creditReportOf(audit, ctx.deployment.inferenceCredit, byModel);
        if (opts.format === "json") text = `${toJson({ ...JSON.parse(text), credits })}\n`;
        else if (opts.format === "csv") text = `${text.trimEnd()}\n${creditCsv(credits)}\n`;
        else text = text.replace("</body>", `${creditHtml(credits)}\n</body>`);
      }
      writeFileSync(opts.out, text);
      const holders = new Set(report.rows.map((r) => r.holder)).size;
      output(
        ctx.globals.json,
        `wrote ${opts.out}: ${holders} holders, ${report.classes.length} classes, ${report.months.length ? `${report.months[0]} to ${report.months.at(-1)}` : "no months"} (blocks ${report.fromBlock}..${report.toBlock})`,
        { file: opts.out, format: opts.format, holders, classes: report.classes.length, months: report.months, fromBlock: report.fromBlock, toBlock: report.toBlock },
      );
    });
}
