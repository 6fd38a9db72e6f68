/**
 * Turns a Hardhat Ignition deployment directory (ignition/deployments/<id>/) of deploy/ComputeTokens.ts
 * into the deployment file every `ctk` command reads (sdk/deployment.ts):
 *
 *   npx tsx scripts/ignition-to-deployment.ts ignition/deployments/chain-31337 [--out deployment.json]
 *
 * Addresses come from deployed_addresses.json; the chain id, the deployment block and the role
 * holders from journal.jsonl (only futures that completed).
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getAddress, type Address } from "viem";
import { type Deployment, deploymentSchema } from "../sdk/deployment.js";
import { CtkError } from "../sdk/ctkError.js";

/** The modules this converts: deploy/ComputeTokens.ts and deploy/ComputeTokensHandover.ts. */
const MODULES = ["ComputeTokens", "ComputeTokensHandover"] as const;

interface JournalEntry {
  type: string;
  futureId?: string;
  chainId?: number;
  args?: unknown[];
  constructorArgs?: unknown[];
  receipt?: { blockNumber: number };
  result?: { type: string };
}

export class IgnitionOutputError extends CtkError {
  constructor(dir: string, detail: string) {
    super(`Ignition deployment ${dir}: ${detail}`);
    this.name = "IgnitionOutputError";
  }
}

export function deploymentFromIgnition(dir: string): Deployment {
  const read = (file: string) => {
    try {
      return readFileSync(path.join(dir, file), "utf8");
    } catch {
      throw new IgnitionOutputError(dir, `${file} not found (is this an ignition/deployments/<id> directory?)`);
    }
  };
  const addresses = JSON.parse(read("deployed_addresses.json")) as Record<string, string>;
  const journal = read("journal.jsonl")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JournalEntry);
  const MODULE = MODULES.find((id) => addresses[`${id}#ComputeToken`] && addresses[`${id}#AccessManager`]);
  if (!MODULE) throw new IgnitionOutputError(dir, `no ComputeTokens#ComputeToken / ComputeTokens#AccessManager in deployed_addresses.json`);
  const computeToken = addresses[`${MODULE}#ComputeToken`];
  const accessManager = addresses[`${MODULE}#AccessManager`];
  const inferenceCredit = addresses[`${MODULE}#InferenceCredit`];
  const chainId = journal.find((e) => e.type === "DEPLOYMENT_INITIALIZE")?.chainId;
  if (chainId === undefined) throw new IgnitionOutputError(dir, "the journal has no chain id");
  const confirm = journal.find((e) => e.type === "TRANSACTION_CONFIRM" && e.futureId === `${MODULE}#AccessManager`);
  if (!confirm?.receipt) throw new IgnitionOutputError(dir, "the AccessManager deployment was never confirmed");

  const completed = new Set(journal.filter((e) => e.type.endsWith("_EXECUTION_STATE_COMPLETE") && e.result?.type === "SUCCESS").map((e) => e.futureId));
  const initOf = (futureId: string) => journal.find((e) => e.futureId === futureId && e.type.endsWith("_EXECUTION_STATE_INITIALIZE"));
  const deployer = getAddress(String(initOf(`${MODULE}#AccessManager`)?.constructorArgs?.[0]));
  const roles: Record<string, Address[]> = { ADMIN: [deployer] };
  for (const role of ["HR", "OPERATIONS", "REDEEMER", "PAUSER", "GATEWAY", "ADMIN"]) {
    const id = `${MODULE}#grant_${role}`;
    if (!completed.has(id)) continue;
    const account = getAddress(String(initOf(id)?.args?.[1]));
    roles[role] = [...new Set([...(roles[role] ?? []), account])];
  }
  if (completed.has(`${MODULE}#renounce_ADMIN_deployer`)) roles.ADMIN = roles.ADMIN.filter((a) => a !== deployer);
  return deploymentSchema.parse({
    chainId,
    computeToken,
    accessManager,
    ...(inferenceCredit ? { inferenceCredit } : {}),
    deployBlock: confirm.receipt.blockNumber,
    roles,
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args[outAt + 1] : undefined;
  const dir = args.find((a, i) => !a.startsWith("--") && i !== outAt + 1);
  if (!dir) {
    process.stderr.write("usage: tsx scripts/ignition-to-deployment.ts <ignition/deployments/<id>> [--out deployment.json]\n");
    process.exit(2);
  }
  try {
    const text = `${JSON.stringify(deploymentFromIgnition(dir), null, 2)}\n`;
    if (out) writeFileSync(out, text);
    else process.stdout.write(text);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
