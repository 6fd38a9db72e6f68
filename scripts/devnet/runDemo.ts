/**
 * The devnet's demo redemption: HR onboards the local demo employee and grants one GPU-hour (and a few
 * inference credits, so that the gateway lines `ctk devnet up` prints work for that employee), the
 * employee redeems it for `config/demo-job.json` (a short CPU process the local executor runs on
 * simulated GPU slots), and the demo follows the redemption on-chain until it ends, reporting
 * each step: requested (the burn), running, settled (usage, refund, receipt) or rejected.
 * `ctk devnet up` runs it once, on a freshly deployed chain.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { type Address, type Hex, keccak256, stringToBytes } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { chainTime, createCtkClient, type CtkClient } from "../../sdk/client.js";
import { CREDIT_GRANT_COLUMNS, prepareCreditGrants, sendCreditGrants } from "../../sdk/credits/grants.js";
import { formatCredits, parseCredits } from "../../sdk/credits/units.js";
import { findClass } from "../../sdk/classes.js";
import type { Deployment } from "../../sdk/deployment.js";
import { formatExpiry } from "../../sdk/format.js";
import type { JobSpec } from "../../sdk/jobSpec.js";
import { encodeLotId } from "../../sdk/lotId.js";
import { describeReason } from "../../sdk/reasons.js";
import { redeemJob } from "../../sdk/redeem.js";
import { getRedemption } from "../../sdk/redemptions.js";
import { writeComputeToken } from "../../sdk/write.js";
import { LOCAL_ROLE_KEYS, localEmployeeKey } from "../../devkit/localAccounts.js";
import { CtkError } from "../../sdk/ctkError.js";

/** The local employee the demo grants to and redeems as (not one of examples/employees.csv). */
export const DEMO_EMPLOYEE_KEY: Hex = localEmployeeKey(4);
export const DEMO_EMPLOYEE: Address = privateKeyToAccount(DEMO_EMPLOYEE_KEY).address;
/** GPU-seconds granted to the demo employee: one GPU-hour. */
export const DEMO_GRANT_UNITS = 3600n;
/** Tags the demo grant: it can land once per chain. */
const DEMO_BATCH_REF: Hex = keccak256(stringToBytes("ctk devnet demo grant"));
/** Inference credits granted to the demo employee (base units): ten credits, for the gateway. */
export const DEMO_CREDITS = parseCredits("10");
/** The payroll run of the demo's credit grant: like any run, it lands once per chain. */
const DEMO_CREDITS_RUN = "ctk-devnet-demo-credits";

export type DemoEvent =
  | { step: "granted"; employee: Address; className: string; units: bigint; lotId: bigint; credits?: bigint }
  | { step: "requested"; id: bigint; employee: Address; className: string; spec: JobSpec; units: bigint; txHash: Hex }
  | { step: "running"; id: bigint; jobLog?: string }
  | { step: "settled"; id: bigint; reserved: bigint; used: bigint; refunded: bigint; receipt: string; jobOutput: string[] }
  | { step: "rejected"; id: bigint; reason: string; refunded: bigint };

export interface DemoGrantOptions {
  rpcUrl: string;
  deployment: Deployment;
  /** The job spec, already validated (scripts/wallet/redeemCommand.ts loadSpec). */
  spec: JobSpec;
  className: string;
}

export interface DemoOptions {
  rpcUrl: string;
  deployment: Deployment;
  /** The job spec the grant was checked against. */
  spec: JobSpec;
  /** The redeemer's receipts directory (receipt file: <id>.json). */
  receiptsDir: string;
  /** The local executor's job logs directory (log file: ctk-redemption-<id>.log), if any. */
  jobLogsDir?: string;
  report(event: DemoEvent): void;
  /** Stops following the redemption (the transactions already sent are not undone). */
  signal?: AbortSignal;
  pollMs?: number;
}

export class DemoError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "DemoError";
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** What HR did for the demo: the class granted, and the event that says so (class name, lot). */
export interface DemoGrant {
  classId: number;
  event: Extract<DemoEvent, { step: "granted" }>;
}

/**
 * HR's part of the demo: onboards the demo employee and grants one GPU-hour. `ctk devnet up` runs
 * it before it says "devnet ready", so that HR's transactions never race a user's own use of the
 * HR key; the event is reported later, with the rest of the demo.
 */
export async function grantDemoHours(o: DemoGrantOptions): Promise<DemoGrant> {
  const hr = createCtkClient({ rpcUrl: o.rpcUrl, deployment: o.deployment, account: LOCAL_ROLE_KEYS.HR, pollingInterval: 50 });
  const cls = await findClass(hr, o.className);
  if (!cls?.active) throw new DemoError(`the demo needs the hardware class ${o.className}, which is ${cls ? "retired" : "not defined"} on this chain`);
  if (o.spec.gpus > cls.maxGpusPerJob) throw new DemoError(`the demo spec asks for ${o.spec.gpus} GPUs; ${cls.name} allows ${cls.maxGpusPerJob}`);

  // One GPU-hour in a soulbound lot that expires at midnight UTC a year from now.
  const expiresAt = await aYearAhead(hr);
  const lotId = encodeLotId({ classId: cls.classId, expiresAt, policy: "soulbound" });
  const isHolder = await hr.publicClient.readContract({ ...hr.computeToken, functionName: "isHolder", args: [DEMO_EMPLOYEE] });
  if (!isHolder) await writeComputeToken(hr, "onboard", [[DEMO_EMPLOYEE]]);
  await writeComputeToken(hr, "grantBatch", [DEMO_BATCH_REF, [DEMO_EMPLOYEE], [lotId], [DEMO_GRANT_UNITS]]);
  return {
    classId: cls.classId,
    event: { step: "granted", employee: DEMO_EMPLOYEE, className: cls.name, units: DEMO_GRANT_UNITS, lotId },
  };
}

/** Midnight UTC `days` days after `now` (unix seconds): the demo's expiry dates. */
export const midnightAfter = (now: bigint, days: bigint): bigint => (now / 86_400n + days) * 86_400n;

/** Midnight UTC a year from the chain's time: when the demo's grants expire. */
async function aYearAhead(client: CtkClient): Promise<bigint> {
  return midnightAfter(await chainTime(client), 366n);
}

/**
 * HR grants the demo employee (onboarded by {@link grantDemoHours}) {@link DEMO_CREDITS} soulbound inference
 * credits, expiring with its GPU-hour, the way `ctk hr grant-credits` does: a one-row credits file sent as
 * a named run (checked against the chain first; once per chain). Resolves with the credits granted.
 */
export async function grantDemoCredits(o: Pick<DemoGrantOptions, "rpcUrl" | "deployment">): Promise<bigint> {
  const hr = createCtkClient({ rpcUrl: o.rpcUrl, deployment: o.deployment, account: LOCAL_ROLE_KEYS.HR, pollingInterval: 50 });
  const row = ["demo", DEMO_EMPLOYEE, formatCredits(DEMO_CREDITS), formatExpiry(await aYearAhead(hr)), "false"];
  const plan = await prepareCreditGrants(hr, `${CREDIT_GRANT_COLUMNS.join(",")}\n${row.join(",")}\n`, { run: DEMO_CREDITS_RUN });
  if (plan.problems.length) throw new DemoError(`the demo's credit grant: ${plan.problems.map((p) => p.message).join("; ")}`);
  await sendCreditGrants(hr, plan);
  return DEMO_CREDITS;
}

/**
 * After HR's `grant`: reports it, redeems and follows the demo redemption; resolves with the last
 * event (settled or rejected), or undefined if aborted first.
 */
export async function runDemoRedemption(o: DemoOptions, grant: DemoGrant): Promise<DemoEvent | undefined> {
  const { className, lotId } = grant.event;
  o.report(grant.event);
  const employee = createCtkClient({ rpcUrl: o.rpcUrl, deployment: o.deployment, account: DEMO_EMPLOYEE_KEY, pollingInterval: 50 });

  const { id, reserved, receipt } = await redeemJob(employee, grant.classId, [lotId], o.spec);
  const read = { publicClient: employee.publicClient, address: employee.computeToken.address };
  o.report({ step: "requested", id, employee: DEMO_EMPLOYEE, className, spec: o.spec, units: reserved, txHash: receipt.transactionHash });

  const jobLog = o.jobLogsDir && path.join(o.jobLogsDir, `ctk-redemption-${id}.log`);
  let running = false;
  while (!o.signal?.aborted) {
    const r = await getRedemption(read, id);
    if (r && (r.status === "Running" || r.status === "Settled") && !running) {
      running = true;
      o.report({ step: "running", id, ...(jobLog && { jobLog }) });
    }
    if (r?.status === "Settled") {
      const event: DemoEvent = {
        step: "settled",
        id,
        reserved: r.reserved,
        used: r.used,
        refunded: r.reserved - r.used,
        receipt: path.join(o.receiptsDir, `${id}.json`),
        jobOutput: jobLog ? await jobOutputOf(jobLog) : [],
      };
      o.report(event);
      return event;
    }
    if (r?.status === "Rejected" || r?.status === "Reclaimed") {
      const [log] = await employee.publicClient.getContractEvents({ ...employee.computeToken, eventName: "RedemptionRejected", args: { id }, fromBlock: receipt.blockNumber });
      const event: DemoEvent = {
        step: "rejected",
        id,
        reason: log ? describeReason(log.args.reasonCode!) : r.status.toLowerCase(),
        refunded: r.reserved,
      };
      o.report(event);
      return event;
    }
    await sleep(o.pollMs ?? 250, o.signal);
  }
  return undefined;
}

/** What the job printed: its log without the executor's "[ctk]" lines (the last few). */
async function jobOutputOf(file: string): Promise<string[]> {
  try {
    const lines = (await readFile(file, "utf8")).split("\n").filter((l) => l.trim() && !l.startsWith("[ctk]"));
    return lines.slice(-5).map((l) => (l.length > 200 ? `${l.slice(0, 197)}...` : l));
  } catch {
    return [];
  }
}
