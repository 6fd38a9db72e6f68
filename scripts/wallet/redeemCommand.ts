/**
 * `ctk redeem --class H100-80GB --spec job.json [--priority high] [--yes]`: validates the job spec
 * with the schema the redeemer uses (sdk/jobSpec.ts), checks it against the redeemer's published
 * policy (`GET /v1/policy`, sdk/policy.ts) so nothing is burned that it would refuse, shows the cost (GPUs × hours × priority
 * multiplier) and the lots it will draw from (soonest-expiring first), asks, sends, prints the id.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { Address } from "viem";
import { getBalances } from "../../sdk/balances.js";
import { chainTime } from "../../sdk/client.js";
import { findClass } from "../../sdk/classes.js";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { PRIORITIES, SPEC_LIMITS, encodeSpec, jobSpecSchema, priorityIndex, specSeconds, unitsFor, type JobSpec, type PriorityName } from "../../sdk/jobSpec.js";
import { checkSpecPolicy, DEFAULT_REDEEMER_API, fetchRedeemerPolicy, otherRedeemer, type PolicyOrigin, PolicyUnavailable, policyOrigin } from "../../sdk/policy.js";
import { redeemJob } from "../../sdk/redeem.js";
import { globalsOf, type RedeemerApi, redeemerApiOf } from "../cli/globals.js";
import { UserError, output } from "../cli/output.js";
import { employeeClient, withKeyOptions, type KeyOptions } from "./context.js";
import { pickLots } from "../../sdk/pickLots.js";
import { confirm } from "./prompt.js";

const MAX_REDEMPTION_LOTS = 16;

/** Reads and validates a spec file; `priority` (from --priority) must agree with the spec's own. */
export function loadSpec(file: string, priority?: PriorityName): JobSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`job spec ${file}: ${code === "ENOENT" ? "not found" : code === "EISDIR" ? "is a directory" : (code ?? "cannot read")}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`the job spec ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (priority && raw && typeof raw === "object" && !Array.isArray(raw)) {
    const own = (raw as { priority?: unknown }).priority;
    if (own !== undefined && own !== priority) {
      throw new UserError(`the job spec says priority "${String(own)}" but --priority is ${priority}: they must agree`);
    }
    raw = { ...(raw as object), priority };
  }
  const parsed = jobSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(spec)"}: ${i.message}`);
    throw new UserError(`the job spec ${file} is invalid: ${problems.join("; ")}`, [], { valid: false, problems });
  }
  const bytes = encodeSpec(parsed.data);
  if (bytes.length > SPEC_LIMITS.maxSpecBytes) throw new UserError(`the job spec is ${bytes.length} bytes; at most ${SPEC_LIMITS.maxSpecBytes}`);
  return parsed.data;
}

export function redeemCommand(): Command {
  return withKeyOptions(
    new Command("redeem")
      .description("burn GPU-hours for a job: validates the spec, shows the cost, asks, sends, prints the redemption id")
      .requiredOption("--class <name>", "hardware class, e.g. H100-80GB")
      .requiredOption("--spec <file>", "the job spec (JSON)")
      .addOption(new Option("--priority <priority>", "job priority (must agree with the spec's)").choices([...PRIORITIES]))
      .option(
        "--redeemer-api <url>",
        `the redeemer's API, whose policy the spec is checked against before burning (env CTK_REDEEMER_API; default: the one the devnet noted beside the deployment file, or that it runs none; else ${DEFAULT_REDEEMER_API})`,
      )
      .option("--no-policy-check", "burn without checking the redeemer's policy (it may then refuse the job, and refund)")
      .option("--yes", "do not ask for confirmation"),
  ).action(async function (this: Command, opts: KeyOptions & { class: string; spec: string; priority?: PriorityName; yes?: boolean; redeemerApi?: string; policyCheck: boolean }) {
    const globals = globalsOf(this);
    const spec = loadSpec(opts.spec, opts.priority);
    const client = await employeeClient(this, opts);
    const me = client.account.address as Address;
    const cls = await findClass(client, opts.class);
    if (!cls) throw new UserError(`no hardware class named ${opts.class}`);
    if (!cls.active) throw new UserError(`hardware class ${cls.name} is retired: it can no longer be redeemed`);
    if (opts.policyCheck) await checkAgainstRedeemer(spec, cls, redeemerApiOf(globals, opts.redeemerApi), policyOrigin(client));
    else if (spec.gpus > cls.maxGpusPerJob) throw new UserError(`the spec asks for ${spec.gpus} GPUs; ${cls.name} allows at most ${cls.maxGpusPerJob} per job`);
    const seconds = specSeconds(spec);
    const [bps, balances, now] = await Promise.all([
      client.publicClient.readContract({ ...client.computeToken, functionName: "priorityMultiplier", args: [priorityIndex(spec.priority)] }),
      getBalances(client, me),
      chainTime(client),
    ]);
    const units = unitsFor(spec.gpus, seconds, bps);
    const lots = balances.classes.find((c) => c.classId === cls.classId)?.lots ?? [];
    const { picks, available } = pickLots(lots, units, { now, maxLots: MAX_REDEMPTION_LOTS });
    const cost = `${spec.gpus} GPU${spec.gpus === 1 ? "" : "s"} × ${spec.hours} h × ${(bps / 10000).toString()} (${spec.priority}) = ${formatHours(units)} ${cls.name} GPU-hours`;
    if (!picks.length) throw new UserError(`${cost}, but you have ${formatHours(available)} h redeemable in ${cls.name}`);
    const plan = [`redeem ${spec.name}: ${cost}`, ...picks.map((p) => `  ${formatHours(p.amount)} h from the lot expiring ${formatExpiry(p.expiresAt)}`)];
    if (!opts.yes) {
      process.stderr.write(`${plan.join("\n")}\n`);
      if (!(await confirm("Send this redemption?"))) throw new UserError("cancelled: nothing was sent");
    }
    const { id, specHash, receipt } = await redeemJob(
      client,
      cls.classId,
      picks.map((p) => p.lotId),
      spec,
    );
    output(globals.json, [...plan, `redemption ${id} requested (tx ${receipt.transactionHash})`, `follow it with: ctk status ${id} --follow`], {
      id,
      class: cls.name,
      units,
      priority: spec.priority,
      lots: picks,
      specHash,
      txHash: receipt.transactionHash,
    });
  });
}

/** Refuses, before anything is burned, a spec the redeemer would reject: every problem, field by field. */
async function checkAgainstRedeemer(spec: JobSpec, cls: { name: string; maxGpusPerJob: number }, api: RedeemerApi, ours: PolicyOrigin): Promise<void> {
  if ("none" in api) {
    throw new UserError(
      `${api.none}: the spec cannot be checked against a redeemer's policy, so nothing was burned (pass --redeemer-api <url>, or --no-policy-check to burn anyway: unless a redeemer picks it up, \`ctk reclaim <id>\` refunds it after the launch timeout)`,
    );
  }
  const apiUrl = api.url;
  let policy;
  try {
    policy = await fetchRedeemerPolicy(apiUrl);
  } catch (e) {
    if (e instanceof PolicyUnavailable) {
      throw new UserError(
        `${e.message}: the spec cannot be checked against its policy, so nothing was burned (is the redeemer running? pass --redeemer-api <url>, or --no-policy-check to burn anyway)`,
      );
    }
    throw e;
  }
  const other = await otherRedeemer(policy, ours);
  if (other) throw new UserError(`the redeemer at ${apiUrl} ${other}: pass the --redeemer-api of this deployment's redeemer; nothing was burned`);
  const refusals = checkSpecPolicy(spec, policy, { className: cls.name, classMaxGpus: cls.maxGpusPerJob });
  if (refusals.length > 0) {
    throw new UserError(
      `the redeemer would refuse this spec (${refusals.length} problem${refusals.length === 1 ? "" : "s"}); nothing was burned`,
      refusals.map((r) => `  ${r.field}: ${r.message}`),
      { valid: false, redeemerApi: apiUrl, problems: refusals },
    );
  }
}
