/**
 * `ctk audit statement --wallet 0x…`: one employee's full history from the chain, for compensation
 * and tax records — dates, lots, hours and transaction hashes, then the closing balance per lot.
 */
import { writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { Address } from "viem";
import { stderrProgress } from "../cli/progress.js";
import { MOVEMENTS } from "../../sdk/audit/movements.js";
import type { Movement } from "../../sdk/audit/replay.js";
import { replayDeployment } from "../../sdk/audit/verify.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { hoursNumber, isoUtc } from "../../sdk/format.js";
import { decodeLotId } from "../../sdk/lotId.js";
import { UserError, table } from "../cli/output.js";
import { readContext, type ReadContext } from "../wallet/context.js";
import { hours, toJson, utc } from "./format.js";
import type { CreditMovement } from "../../sdk/credits/audit.js";
import type { HolderModelSpend } from "../../sdk/credits/spendByModel.js";
import { auditDeploymentCredits } from "./creditReport.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { MODEL_HEAD, PER_MODEL_NEEDS_RECORDS, csvCell, modelCells, verifiedSpendByModel } from "./creditReport.js";

export interface StatementLine {
  date: string;
  timestamp: bigint;
  block: bigint;
  event: string;
  class: string;
  lotId: bigint;
  lotExpires: string;
  policy: string;
  units: bigint;
  /** Signed change of the balance in GPU-hours ("" for consumed). */
  hours: string;
  redemptionId?: bigint;
  counterparty?: Address;
  note?: string;
  txHash: string;
}

export interface StatementClosing {
  class: string;
  lotId: bigint;
  expires: string;
  policy: string;
  units: bigint;
  hours: string;
  expired: boolean;
}

export interface Statement {
  wallet: Address;
  chainId: number;
  computeToken: Address;
  asOf: bigint;
  toBlock: bigint;
  entries: StatementLine[];
  closingBalances: StatementClosing[];
  /** Inference credits: the wallet's movements and closing buckets (when the deployment has InferenceCredit). */
  credits?: {
    entries: CreditMovement[];
    closing: { expiresAt: bigint; transferable: boolean; amount: bigint }[];
    totals?: Record<string, bigint>;
    /** Spent per month and model, from the gateway's verified usage records (`--usage`); undefined without them. */
    models?: HolderModelSpend[];
  };
}

export type StatementFormat = "text" | "csv" | "json";

/** One employee's history, replayed from the chain (what `audit statement` and the web app show). */
export async function buildStatement(
  ctx: Pick<ReadContext, "publicClient" | "logRequest" | "deployment">,
  wallet: Address,
  opts: { progress?: boolean /** A gateway's usage records: per-model spending once verified. */; usage?: string } = {},
): Promise<Statement> {
  const mine: Movement[] = [];
  const run = await replayDeployment({
    client: ctx.publicClient,
    logRequest: ctx.logRequest,
    deployment: ctx.deployment,
    onMovement: (m) => {
      if (m.holder === wallet) mine.push(m);
    },
    onProgress: opts.progress ? stderrProgress("replaying") : undefined,
  });
  const names = new Map([...run.replay.classes.values()].map((c) => [c.classId, c.name]));
  const entries: StatementLine[] = mine.map((m) => {
    const lot = decodeLotId(m.lotId);
    const sign = MOVEMENTS[m.kind].sign;
    return {
      date: utc(m.timestamp),
      timestamp: m.timestamp,
      block: m.blockNumber,
      event: MOVEMENTS[m.kind].label,
      class: names.get(m.classId) ?? `class #${m.classId}`,
      lotId: m.lotId,
      lotExpires: utc(lot.expiresAt),
      policy: lot.policy,
      units: m.amount,
      hours: sign === 0n ? "" : `${sign > 0n ? "+" : "-"}${hours(m.amount)}`,
      redemptionId: m.redemptionId,
      counterparty: m.counterparty,
      note: m.kind === "grant" ? `batch ${m.note}` : m.note,
      txHash: m.txHash,
    };
  });
  const closingBalances = [...(run.replay.balances.get(wallet) ?? new Map<bigint, bigint>()).entries()]
    .filter(([, units]) => units !== 0n)
    .map(([lotId, units]) => {
      const lot = decodeLotId(lotId);
      return {
        class: names.get(lot.classId) ?? `class #${lot.classId}`,
        lotId,
        expires: utc(lot.expiresAt),
        policy: lot.policy,
        units,
        hours: hours(units),
        expired: lot.expiresAt <= run.head.timestamp,
      };
    });
  // Inference credits: the wallet's movements and closing buckets, from InferenceCredit's events.
  let credits: Statement["credits"];
  const audit = await auditDeploymentCredits(ctx, run.head.blockNumber);
  if (audit) {
    credits = {
      entries: audit.replay.movements.filter((m) => m.holder === wallet),
      closing: audit.replay.buckets.get(wallet) ?? [],
      totals: audit.replay.perHolder.get(wallet) as Record<string, bigint> | undefined,
      models: opts.usage
        ? (await verifiedSpendByModel({ publicClient: ctx.publicClient, deployment: ctx.deployment, dir: opts.usage }, audit.replay.charges)).holders.filter(
            (h) => h.holder === wallet,
          )
        : undefined,
    };
  } else if (opts.usage) throw new UserError("--usage: this deployment has no InferenceCredit");
  return {
    wallet,
    chainId: ctx.deployment.chainId,
    computeToken: ctx.deployment.computeToken,
    asOf: run.head.timestamp,
    toBlock: run.head.blockNumber,
    entries,
    closingBalances,
    credits,
  };
}

const creditSign = (k: CreditMovement["kind"]) => (k === "granted" || k === "received" ? "+" : "-");

/** A statement as JSON, CSV or text. */
export function renderStatement(st: Statement, format: StatementFormat): string {
  const { wallet, entries: lines, closingBalances: closing, credits: credit } = st;
  if (format === "json") {
    const entries = lines.map((l) => ({
      timestamp: l.timestamp,
      block: l.block,
      event: l.event,
      class: l.class,
      lotId: l.lotId,
      lotExpiresAt: decodeLotId(l.lotId).expiresAt,
      policy: l.policy,
      units: l.units,
      /** Signed change of the balance in GPU-seconds (null: consumed, informational). */
      change: l.hours === "" ? null : l.hours.startsWith("-") ? -l.units : l.units,
      hours: l.hours === "" ? null : (l.hours.startsWith("-") ? -1 : 1) * hoursNumber(l.units),
      ...(l.redemptionId !== undefined && { redemptionId: l.redemptionId }),
      ...(l.counterparty !== undefined && { counterparty: l.counterparty }),
      ...(l.note !== undefined && { note: l.note }),
      txHash: l.txHash,
    }));
    const closingJson = closing.map((c) => ({
      class: c.class,
      lotId: c.lotId,
      expiresAt: decodeLotId(c.lotId).expiresAt,
      policy: c.policy,
      units: c.units,
      hours: hoursNumber(c.units),
      expired: c.expired,
    }));
    return `${toJson({ wallet, chainId: st.chainId, computeToken: st.computeToken, asOf: isoUtc(st.asOf), toBlock: st.toBlock, entries, closingBalances: closingJson, credits: credit && { entries: credit.entries.map((m) => ({ date: utc(m.timestamp), block: m.blockNumber, event: m.kind, amount: m.amount, credits: `${creditSign(m.kind)}${formatCredits(m.amount)}`, expiresAt: m.expiresAt !== undefined ? utc(m.expiresAt) : undefined, note: m.note, txHash: m.txHash })), closingBuckets: credit.closing.map((b) => ({ expiresAt: utc(b.expiresAt), transferable: b.transferable, amount: b.amount, credits: formatCredits(b.amount), expired: b.expiresAt <= st.asOf })), totals: credit.totals, ...(credit.models ? { models: credit.models } : { models: null, modelsNote: PER_MODEL_NEEDS_RECORDS }) } })}\n`;
  }
  if (format === "csv") {
    const head = "date,block,event,class,lot_id,lot_expires,policy,gpu_hours,gpu_seconds,redemption_id,counterparty,note,tx_hash";
    const gpu = lines.map((l) =>
      [
        l.date,
        l.block,
        l.event,
        csvCell(l.class),
        l.lotId,
        l.lotExpires,
        l.policy,
        l.hours.replace(/,/g, ""),
        l.units,
        l.redemptionId ?? "",
        l.counterparty ?? "",
        csvCell(l.note ?? ""),
        l.txHash,
      ].join(","),
    );
    const creditRows = credit
      ? [
          "# inference credits",
          "date,block,event,credits,base_units,bucket_expires,note,tx_hash",
          ...credit.entries.map((m) =>
            [
              utc(m.timestamp),
              m.blockNumber,
              m.kind,
              `${creditSign(m.kind)}${formatCredits(m.amount)}`,
              `${creditSign(m.kind)}${m.amount}`,
              m.expiresAt !== undefined ? utc(m.expiresAt) : "",
              csvCell(m.note ?? ""),
              m.txHash,
            ].join(","),
          ),
          "# inference credit buckets at the close",
          "bucket_expires,policy,credits,base_units,expired",
          ...credit.closing.map((b) => [utc(b.expiresAt), b.transferable ? "transferable" : "soulbound", formatCredits(b.amount), b.amount, b.expiresAt <= st.asOf].join(",")),
          ...(credit.totals?.owed ? ["# usage debt owed at the close", "credits,base_units", `${formatCredits(credit.totals.owed)},${credit.totals.owed}`] : []),
          ...(credit.models
            ? [
                "# inference credits spent per month and model (from the gateway's usage records, verified against the chain)",
                ["month", ...MODEL_HEAD].join(","),
                ...credit.models.map((m) => [m.month, ...modelCells(m)].map(csvCell).join(",")),
              ]
            : [`# ${PER_MODEL_NEEDS_RECORDS}`]),
        ]
      : [];
    return `${[head, ...gpu, ...creditRows].join("\n")}\n`;
  }
  const out = [
    `statement for ${wallet} — ComputeToken ${st.computeToken} on chain ${st.chainId}, as of ${utc(st.asOf)} (block ${st.toBlock})`,
    "",
    ...(lines.length
      ? table(
          ["date", "event", "class", "lot expires", "policy", "hours", "GPU-seconds", "redemption", "counterparty", "tx"],
          lines.map((l) => [
            l.date,
            l.event,
            l.class,
            l.lotExpires.slice(0, 10),
            l.policy,
            l.hours || `(${hours(l.units)})`,
            l.hours ? `${l.hours[0]}${l.units}` : `(${l.units})`,
            l.redemptionId ? String(l.redemptionId) : "",
            l.counterparty ?? "",
            l.txHash,
          ]),
        )
      : ["no history"]),
    "",
    "closing balance:",
    ...(closing.length
      ? closing.map((c) => `  ${c.class} lot expiring ${c.expires} (${c.policy}): ${c.hours} h (${c.units} GPU-seconds)${c.expired ? " — expired, not yet swept" : ""}`)
      : ["  none"]),
    ...(credit
      ? [
          "",
          "inference credits:",
          ...(credit.entries.length
            ? table(
                ["date", "event", "credits", "bucket expires", "note", "tx"],
                credit.entries.map((m) => [
                  utc(m.timestamp),
                  m.kind,
                  `${creditSign(m.kind)}${formatCredits(m.amount)}`,
                  m.expiresAt !== undefined ? utc(m.expiresAt).slice(0, 10) : "",
                  m.note ?? "",
                  m.txHash,
                ]),
              )
            : ["no credit history"]),
          "closing credit buckets:",
          ...(credit.closing.length
            ? credit.closing.map(
                (b) =>
                  `  expiring ${utc(b.expiresAt)} (${b.transferable ? "transferable" : "soulbound"}): ${formatCredits(b.amount)} credits${b.expiresAt <= st.asOf ? " — expired, not yet swept" : ""}`,
              )
            : ["  none"]),
          ...(credit.totals?.owed
            ? [`owed at the close: ${formatCredits(credit.totals.owed)} credits of usage debt (usage charged after the credits had gone; paid from the next credits received)`]
            : []),
          ...(credit.models
            ? [
                "credits spent per month and model (from the gateway's usage records, verified against the chain):",
                ...(credit.models.length
                  ? table(
                      ["month", ...MODEL_HEAD.map((h) => h.replace(/_/g, " "))],
                      credit.models.map((m) => [m.month, ...modelCells(m)]),
                    )
                  : ["  none"]),
              ]
            : [PER_MODEL_NEEDS_RECORDS]),
        ]
      : []),
  ];
  return `${out.join("\n")}\n`;
}

export function statementCommand(): Command {
  return new Command("statement")
    .description("one employee's full history (GPU-hour lots and inference credits, dates, transaction hashes) for compensation and tax records")
    .requiredOption("--wallet <address>", "the employee's wallet")
    .addOption(new Option("--format <format>", "text, csv or json (--json also gives json)").choices(["text", "csv", "json"]).default("text"))
    .option("--out <file>", "write to a file instead of stdout")
    .option("--usage <dir>", "a gateway's usage records (<batchId>.jsonl): verified against the chain, they give credits spent per model")
    .option("--no-progress", "no progress bar on stderr")
    .action(async function (this: Command, opts: { wallet: string; format: StatementFormat; out?: string; progress: boolean; usage?: string }) {
      const wallet = parseWallet(opts.wallet);
      if (!isParsedWallet(wallet)) throw new UserError(wallet.replace(/^wallet/, "--wallet"));
      const ctx = readContext(this);
      const st = await buildStatement(ctx, wallet, { progress: opts.progress, usage: opts.usage });
      const text = renderStatement(st, ctx.globals.json ? "json" : opts.format);
      if (opts.out) {
        writeFileSync(opts.out, text);
        process.stdout.write(`wrote ${opts.out}: ${st.entries.length} entries for ${wallet}\n`);
      } else process.stdout.write(text);
    });
}
