/**
 * `ctk audit verify`: replays every event from the deployment block and reconciles it with the
 * chain. Exit 0 only if everything reconciles; otherwise one finding per line and exit 1.
 */
import { Command } from "commander";
import { stderrProgress } from "../cli/progress.js";
import { verifyDeployment, type VerifyResult } from "../../sdk/audit/verify.js";
import type { CreditAudit } from "../../sdk/credits/audit.js";
import { auditDeploymentCredits } from "./creditReport.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { type VerifyUsageResult, verifyUsageRecords } from "../../sdk/credits/verifyUsage.js";
import { UserError } from "../cli/output.js";
import { readContext } from "../wallet/context.js";
import { hours, toJson, utc } from "./format.js";

function renderVerify(result: VerifyResult, seconds: number): string[] {
  const s = result.summary;
  const lines: string[] = [];
  lines.push(
    `replayed ${s.events.toLocaleString("en-US")} events in ${s.transactions.toLocaleString("en-US")} transactions, blocks ${s.fromBlock}..${s.toBlock} (${seconds.toFixed(1)} s)`,
  );
  for (const c of s.classes) lines.push(`class ${c.name}: supply ${hours(c.supply)} h${c.active ? "" : " (retired)"}`);
  const r = s.redemptions;
  lines.push(`redemptions: ${r.total} (settled ${r.settled}, rejected ${r.rejected}, reclaimed ${r.reclaimed}, running ${r.running}, requested ${r.requested})`);
  lines.push(`compared with the chain at block ${s.toBlock}: ${s.balancesCompared} balances of ${s.holders} accounts in ${s.lots} lots, ${s.redemptionsCompared} redemptions`);
  for (const b of s.bytecode) lines.push(`bytecode: ${b.contract} at ${b.address} ${b.ok ? `matches ${b.artifact}` : "DIFFERS"}`);
  if (s.receiptsChecked) lines.push(`receipts: ${s.receiptsChecked} checked against the on-chain hashes`);
  lines.push("roles now:");
  for (const m of result.roleMembers) lines.push(`  ${m.role}: ${m.members.length ? m.members.join(", ") : "(nobody)"}`);
  lines.push("role grants and revocations:");
  for (const h of result.roleHistory) {
    const delay = h.action === "granted" && h.delay ? ` (execution delay ${h.delay} s)` : "";
    lines.push(`  ${utc(h.timestamp)}  block ${h.blockNumber}  ${h.action} ${h.role} ${h.action === "granted" ? "to" : "from"} ${h.account}${delay}  tx ${h.txHash}`);
  }
  for (const n of result.notes) lines.push(`  ${n}`);
  if (result.ok) lines.push("OK: every balance, supply, redemption and role reconciles with the events");
  else {
    for (const f of result.findings) lines.push(`FINDING [${f.code}] ${f.message}`);
    lines.push(`${result.findings.length} finding${result.findings.length === 1 ? "" : "s"}`);
  }
  return lines;
}

function renderUsage(u: VerifyUsageResult, dir: string): string[] {
  const lines = [`usage records in ${dir}: ${u.records} records in ${u.files} files, ${u.batchesOnChain} batches settled on-chain, ${formatCredits(u.charged)} credits charged`];
  if (u.ok) lines.push("OK: every usage record's charge matches the on-chain prices and every batch's root matches its records");
  else {
    for (const f of u.findings) lines.push(`FINDING [${f.code}] ${f.message}`);
    lines.push(`${u.findings.length} usage finding${u.findings.length === 1 ? "" : "s"}`);
  }
  return lines;
}

/** The credit half of `audit verify`: what was replayed, and its findings. */
function renderCreditVerify(c: CreditAudit): string[] {
  const t = c.replay.totals;
  const lines = [
    `credits: replayed ${c.events} InferenceCredit events: granted ${formatCredits(t.granted)}, spent ${formatCredits(t.spent)}, expired ${formatCredits(t.expired)}, clawed back ${formatCredits(t.clawedBack)}, live ${formatCredits(c.replay.liveSupply())}${t.owed ? `, owed as usage debt ${formatCredits(t.owed)}` : ""}`,
    `credits: ${c.replay.usageBatchCount} usage batches with ${c.replay.chargeCount} charges, ${c.replay.authorizations.size} authorizations (signatures re-verified), price version ${c.replay.priceVersion}`,
    `credits: compared with the chain: buckets and usage debt of ${c.holdersCompared} holders, ${c.authorizationsCompared} authorizations, supply`,
  ];
  for (const f of c.findings) lines.push(`FINDING [credits/${f.code}] ${f.message}${f.txHash ? ` (tx ${f.txHash})` : ""}`);
  if (!c.findings.length) lines.push("OK: every credit bucket, charge, cap, batch and price version reconciles with the events");
  return lines;
}

export function verifyCommand(): Command {
  return new Command("verify")
    .description("replay every event from the deployment block and reconcile balances, supplies, redemptions, roles and bytecode with the chain")
    .option("--receipts <paths...>", "usage receipt files or directories to check against the on-chain receipt hashes")
    .option("--artifacts <dir>", "compiled artifacts to check the bytecode against (default: this repository's artifacts/)")
    .option("--to-block <n>", "replay up to this block (default: latest)")
    .option("--chunk-blocks <n>", "most blocks per eth_getLogs request (ranges shrink where the history is dense)", "2000")
    .option("--no-progress", "no progress bar on stderr")
    .option("--usage <dir>", "a gateway's usage records (<batchId>.jsonl): recompute every charge from the on-chain prices and check each batch's root")
    .action(async function (this: Command, opts: { receipts?: string[]; artifacts?: string; toBlock?: string; chunkBlocks: string; progress: boolean; usage?: string }) {
      const ctx = readContext(this);
      const started = performance.now();
      const result = await verifyDeployment({
        client: ctx.publicClient,
        logRequest: ctx.logRequest,
        deployment: ctx.deployment,
        receipts: opts.receipts,
        artifactsDir: opts.artifacts,
        toBlock: opts.toBlock ? BigInt(opts.toBlock) : undefined,
        chunkBlocks: BigInt(opts.chunkBlocks),
        onProgress: opts.progress ? stderrProgress("replaying") : undefined,
      });
      const credits = await auditDeploymentCredits(ctx, result.summary.toBlock, true);
      const usage =
        opts.usage && ctx.deployment.inferenceCredit
          ? await verifyUsageRecords({
              publicClient: ctx.publicClient as never,
              inferenceCredit: ctx.deployment.inferenceCredit,
              fromBlock: BigInt(ctx.deployment.deployBlock),
              dir: opts.usage,
            })
          : undefined;
      if (opts.usage && !usage) throw new UserError("--usage: this deployment has no InferenceCredit");
      const seconds = (performance.now() - started) / 1000;
      if (ctx.globals.json) {
        const creditsJson = credits && {
          ok: credits.findings.length === 0,
          findings: credits.findings,
          events: credits.events,
          totals: credits.replay.totals,
          usageBatches: credits.replay.usageBatchCount,
          charges: credits.replay.chargeCount,
          authorizations: credits.replay.authorizations.size,
          priceVersion: credits.replay.priceVersion,
        };
        process.stdout.write(`${toJson({ ...result, seconds, credits: creditsJson, ...(usage && { usage: { ...usage, usage: undefined } }) })}\n`);
      } else
        process.stdout.write(
          `${[...renderVerify(result, seconds), ...(credits ? renderCreditVerify(credits) : []), ...(usage ? renderUsage(usage, opts.usage!) : [])].join("\n")}\n`,
        );
      if (!result.ok || credits?.findings.length || (usage && !usage.ok)) process.exitCode = 1;
    });
}
