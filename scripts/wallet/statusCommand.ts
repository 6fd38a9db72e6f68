/**
 * `ctk status <id> [--follow]`: a redemption's lifecycle — while running, the job's progress
 * (elapsed of the allotted time); once settled, the usage and the refund; if rejected, the reason.
 * From the chain, plus what the redeemer's API knows (sdk/redeemerApi.ts): the job's phase and exit
 * code, whether it was interrupted, where its log is, and the redeemer's own words for a rejection.
 * `--follow` polls until the redemption ends.
 */
import { Command } from "commander";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { describeReason } from "../../sdk/reasons.js";
import { isTerminalStatus } from "../../sdk/redemptions.js";
import { fetchRedemptionDetails, type RedemptionDetails } from "../../sdk/redeemerApi.js";
import { clientFor, globalsOf, redeemerApiOf } from "../cli/globals.js";
import { UserError, output } from "../cli/output.js";
import { duration, loadTimeline, RedemptionNotFound, type Timeline } from "./redemptionTimeline.js";

export function parseRedemptionId(text: string): bigint {
  if (!/^\d+$/.test(text.trim()) || BigInt(text.trim()) === 0n) throw new UserError(`"${text}" is not a redemption id (a positive integer)`);
  return BigInt(text.trim());
}

/** What the job did, in words: "succeeded (exit code 0)", "failed with exit code 3", "interrupted …". */
export function describeJob(job: NonNullable<RedemptionDetails["job"]>): string {
  if (job.interrupted) return `was interrupted: its process was stopped while it ran (the redeemer or its machine stopped); charged for the time it ran`;
  const code = job.exitCode === null ? "" : ` with exit code ${job.exitCode}`;
  const why = job.reason && job.reason !== "Error" && job.reason !== "Completed" ? ` (${job.reason})` : "";
  switch (job.phase) {
    case "succeeded":
      return `succeeded${code === "" ? "" : ` (exit code ${job.exitCode})`}`;
    case "failed":
      return `failed${code}${why}: charged for the time it ran`;
    case "running":
      return "running";
    default:
      return job.phase;
  }
}

/** Human lines for a timeline, with the redeemer's details when its API answered (else why not). */
function describeTimeline(t: Timeline, details?: RedemptionDetails | string): string[] {
  const r = t.redemption;
  const lines = [
    `redemption ${r.id}: ${r.status.toLowerCase()} — ${r.gpus} GPU${r.gpus === 1 ? "" : "s"} × ${duration(t.seconds)} (${r.priority}), ${formatHours(r.reserved)} GPU-hours reserved`,
    `  requested ${formatExpiry(t.requested.at)} (tx ${t.requested.txHash})`,
  ];
  if (r.status === "Requested") {
    const availableAt = r.reclaimableAt;
    lines.push(
      t.now >= availableAt
        ? `  not launched within the launch timeout: you may reclaim it now (ctk reclaim ${r.id})`
        : `  waiting for the redeemer to launch it; reclaimable in ${duration(availableAt - t.now)} if it is not launched`,
    );
  }
  if (t.running) {
    lines.push(`  running since ${formatExpiry(t.running.at)} (tx ${t.running.txHash})`);
    if (r.status === "Running") {
      // Wall-clock time when it is ahead of the last block (a quiet chain mines no blocks).
      const now = Math.max(Number(t.now), Math.floor(Date.now() / 1000));
      const elapsed = Math.max(0, now - Number(t.running.at));
      const pct = t.seconds ? Math.min(100, Math.floor((elapsed / t.seconds) * 100)) : 0;
      lines.push(`  progress: ${duration(Math.min(elapsed, t.seconds))} of ${duration(t.seconds)} allotted (${pct}%)`);
      lines.push(
        t.now >= r.reclaimableAt
          ? `  not settled within its allotted time and the settle grace: you may reclaim it in full now (ctk reclaim ${r.id})`
          : `  if it is not settled by ${formatExpiry(r.reclaimableAt)}, you can reclaim it in full`,
      );
    }
  }
  if (t.settled) {
    lines.push(
      `  settled ${formatExpiry(t.settled.at)}: used ${formatHours(t.settled.used)} GPU-hours, refunded ${formatHours(t.settled.refunded)} (tx ${t.settled.txHash})`,
      `  receipt hash ${t.settled.receiptHash}`,
    );
  }
  if (t.rejected) {
    lines.push(
      `  rejected ${formatExpiry(t.rejected.at)}: ${describeReason(t.rejected.reasonCode)}; refunded ${formatHours(t.rejected.refunded)} GPU-hours (tx ${t.rejected.txHash})`,
    );
  }
  if (t.reclaimed) lines.push(`  reclaimed ${formatExpiry(t.reclaimed.at)}: refunded ${formatHours(t.reclaimed.refunded)} GPU-hours (tx ${t.reclaimed.txHash})`);
  if (typeof details === "string") {
    if (r.status !== "Reclaimed") lines.push(`  job details unavailable: ${details}`);
    return lines;
  }
  if (details?.rejection && t.rejected) lines.push(`  why: ${details.rejection.detail}`);
  else if (details?.rejection && r.status === "Requested") lines.push(`  the redeemer will reject it: ${details.rejection.detail}`);
  if (details?.job) {
    lines.push(`  job ${details.job.name} ${describeJob(details.job)}`);
    if (details.job.log) lines.push(`  job log: ${details.job.log}`);
  }
  return lines;
}

function timelineJson(t: Timeline, details?: RedemptionDetails | string) {
  return {
    job: typeof details === "object" ? details.job : null,
    rejectionDetail: typeof details === "object" ? (details.rejection?.detail ?? null) : null,
    ...(typeof details === "string" && { jobDetailsUnavailable: details }),
    ...t.redemption,
    seconds: t.seconds,
    requested: t.requested,
    running: t.running,
    settled: t.settled,
    rejected: t.rejected && { ...t.rejected, reason: describeReason(t.rejected.reasonCode) },
    reclaimed: t.reclaimed,
  };
}

export function statusCommand(): Command {
  return new Command("status")
    .description("a redemption's lifecycle: progress while running, usage and refund once settled, the reason if rejected")
    .argument("<id>", "redemption id")
    .option("--follow", "keep watching until the redemption ends")
    .option("--interval <seconds>", "seconds between polls with --follow", "2")
    .option(
      "--redeemer-api <url>",
      "the redeemer's API, for the job's details (env CTK_REDEEMER_API; default: the one the devnet noted beside the deployment file, or that it runs none; else http://127.0.0.1:8787)",
    )
    .action(async function (this: Command, idText: string, opts: { follow?: boolean; interval: string; redeemerApi?: string }) {
      const globals = globalsOf(this);
      const id = parseRedemptionId(idText);
      const client = await clientFor(globals);
      const api = redeemerApiOf(globals, opts.redeemerApi);
      let details: RedemptionDetails | string | undefined;
      const load = async () => {
        try {
          const timeline = await loadTimeline(client, id);
          details = "none" in api ? api.none : await fetchRedemptionDetails(api.url, id, timeline.redemption.specHash);
          return timeline;
        } catch (e) {
          if (e instanceof RedemptionNotFound) throw new UserError(e.message);
          throw e;
        }
      };
      let t = await load();
      // A settlement on-chain may be a moment ahead of the redeemer's record of the job's end.
      if (isTerminalStatus(t.redemption.status) && typeof details === "object" && details.status !== t.redemption.status) t = await load();
      if (!opts.follow || isTerminalStatus(t.redemption.status)) {
        output(globals.json, describeTimeline(t, details), timelineJson(t, details));
        return;
      }
      const interval = Math.max(0.1, Number(opts.interval)) * 1000;
      let stopped = false;
      const onSignal = () => (stopped = true);
      process.once("SIGINT", onSignal);
      try {
        let last = "";
        for (;;) {
          const lines = describeTimeline(t, details);
          if (!globals.json) {
            // Print what changed since the last poll.
            const text = lines.join("\n");
            if (text !== last) {
              const old = new Set(last.split("\n"));
              process.stdout.write(`${lines.filter((l, i) => (i === 0 ? text.split("\n")[0] !== last.split("\n")[0] : !old.has(l))).join("\n")}\n`);
              last = text;
            }
          } else if (globals.json && process.stdout.isTTY) {
            // --json prints once at the end
          }
          if (isTerminalStatus(t.redemption.status) || stopped) break;
          await new Promise((r) => setTimeout(r, interval));
          t = await load();
        }
        if (globals.json) output(true, [], timelineJson(t, details));
      } finally {
        process.off("SIGINT", onSignal);
      }
    });
}
