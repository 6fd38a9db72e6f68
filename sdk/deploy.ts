/**
 * Deploys AccessManager + ComputeToken + InferenceCredit with viem and wires every role exactly as sdk/roles.ts
 * says: the local devnet and the end-to-end tests use this; real networks use the Ignition module
 * in deploy/, which applies the same table.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Abi, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient, getAddress } from "viem";
import { LABELLED_ROLES, ROLES, type RoleName, creditSelectorsFor, selectorsFor } from "./roles.js";
import { accessManagerAbi, computeTokenAbi, inferenceCreditAbi } from "./generated/abi.js";
import type { Deployment } from "./deployment.js";
import type { PriceTable } from "./credits/priceTable.js";
import { CtkError } from "./ctkError.js";

/** The contracts are not compiled yet: an expected state of a fresh clone, said in one line. */
export class ArtifactsMissingError extends CtkError {
  constructor(readonly file: string) {
    super(`missing compiled artifact ${file}: build the contracts first (npx hardhat build)`);
    this.name = "ArtifactsMissingError";
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A contract's creation code from the compiled artifacts (`artifactsDir` defaults to this repository's). */
export function bytecodeOf(artifact: string, artifactsDir = path.join(root, "artifacts")): Hex {
  const file = path.join(artifactsDir, artifact);
  try {
    return JSON.parse(readFileSync(file, "utf8")).bytecode as Hex;
  } catch {
    throw new ArtifactsMissingError(file);
  }
}

export const COMPUTE_TOKEN_ARTIFACT = "contracts/ComputeToken.sol/ComputeToken.json";
export const INFERENCE_CREDIT_ARTIFACT = "contracts/InferenceCredit.sol/InferenceCredit.json";
export const REDEMPTIONS_READER_ARTIFACT = "contracts/RedemptionsReader.sol/RedemptionsReader.json";
export const ACCESS_MANAGER_ARTIFACT = "@openzeppelin/contracts/access/manager/AccessManager.sol/AccessManager.json";

export interface DeployParams {
  /** Accounts to receive each role (admin is the deployer unless given). */
  roles: Partial<Record<Exclude<RoleName, "ADMIN">, Address[]>> & { ADMIN?: Address[] };
  launchTimeout: number;
  /** Optional priority multipliers (bps), low/normal/high/urgent. */
  multipliersBps?: [number, number, number, number];
  /** Delay (seconds) on admin operations after deployment. 0 on a local chain. */
  adminExecutionDelay?: number;
  /** Model prices and priority fees to set on InferenceCredit (config/prices.json on the devnet). */
  prices?: PriceTable;
}

type Wallet = WalletClient<Transport, Chain | undefined, Account>;

export async function deployComputeTokens(publicClient: PublicClient, wallet: Wallet, params: DeployParams): Promise<Deployment> {
  const deployer = wallet.account.address;
  const send = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`deployment transaction ${hash} reverted`);
    return receipt;
  };

  /** Deploys one contract from its compiled artifact; resolves to its creation receipt. */
  const deploy = async (abi: Abi, artifact: string, args: readonly unknown[]) =>
    send(await wallet.deployContract({ abi, bytecode: bytecodeOf(artifact), args, chain: wallet.chain }));
  const managerReceipt = await deploy(accessManagerAbi, ACCESS_MANAGER_ARTIFACT, [deployer]);
  const accessManager = getAddress(managerReceipt.contractAddress!);
  const computeToken = getAddress((await deploy(computeTokenAbi, COMPUTE_TOKEN_ARTIFACT, [accessManager, params.launchTimeout])).contractAddress!);
  const inferenceCredit = getAddress((await deploy(inferenceCreditAbi, INFERENCE_CREDIT_ARTIFACT, [accessManager, computeToken])).contractAddress!);

  const manager = { address: accessManager, abi: accessManagerAbi } as const;
  for (const [target, selectorsOf] of [
    [computeToken, selectorsFor],
    [inferenceCredit, creditSelectorsFor],
  ] as const) {
    for (const role of Object.keys(ROLES) as RoleName[]) {
      const selectors = selectorsOf(role);
      if (selectors.length === 0) continue;
      await send(
        await wallet.writeContract({
          ...manager,
          functionName: "setTargetFunctionRole",
          args: [target, selectors, ROLES[role]],
          chain: wallet.chain,
        }),
      );
    }
  }
  for (const role of LABELLED_ROLES) {
    await send(
      await wallet.writeContract({
        ...manager,
        functionName: "labelRole",
        args: [ROLES[role], role],
        chain: wallet.chain,
      }),
    );
  }
  const roles: Record<string, Address[]> = { ADMIN: [deployer] };
  for (const role of LABELLED_ROLES) {
    for (const account of params.roles[role] ?? []) {
      await send(
        await wallet.writeContract({
          ...manager,
          functionName: "grantRole",
          args: [ROLES[role], account, 0],
          chain: wallet.chain,
        }),
      );
    }
    roles[role] = [...(params.roles[role] ?? [])];
  }
  for (const admin of params.roles.ADMIN ?? []) {
    if (admin.toLowerCase() === deployer.toLowerCase()) continue;
    await send(
      await wallet.writeContract({
        ...manager,
        functionName: "grantRole",
        args: [ROLES.ADMIN, admin, params.adminExecutionDelay ?? 0],
        chain: wallet.chain,
      }),
    );
    roles.ADMIN.push(admin);
  }
  // The deployer needs OPERATIONS briefly to set multipliers that differ from the defaults, and prices.
  const defaults = [8000, 10000, 12500, 15000];
  const changes = (params.multipliersBps ?? defaults).map((bps, i) => [i, bps] as const).filter(([i, bps]) => bps !== defaults[i]);
  if (changes.length || params.prices) {
    const hadOps = (params.roles.OPERATIONS ?? []).some((a) => a.toLowerCase() === deployer.toLowerCase());
    if (!hadOps) await send(await wallet.writeContract({ ...manager, functionName: "grantRole", args: [ROLES.OPERATIONS, deployer, 0], chain: wallet.chain }));
    for (const [i, bps] of changes) {
      await send(
        await wallet.writeContract({
          address: computeToken,
          abi: computeTokenAbi,
          functionName: "setPriorityMultiplier",
          args: [i, bps],
          chain: wallet.chain,
        }),
      );
    }
    for (const [model, p] of Object.entries(params.prices?.models ?? {})) {
      await send(
        await wallet.writeContract({
          address: inferenceCredit,
          abi: inferenceCreditAbi,
          functionName: "setModelPrice",
          args: [model, p.inputPerMTok, p.outputPerMTok, p.requestCharge],
          chain: wallet.chain,
        }),
      );
    }
    if (params.prices) {
      await send(
        await wallet.writeContract({
          address: inferenceCredit,
          abi: inferenceCreditAbi,
          functionName: "setPriorityFees",
          args: [params.prices.priorityFees],
          chain: wallet.chain,
        }),
      );
    }
    if (!hadOps) await send(await wallet.writeContract({ ...manager, functionName: "revokeRole", args: [ROLES.OPERATIONS, deployer], chain: wallet.chain }));
  }
  return {
    chainId: await publicClient.getChainId(),
    computeToken,
    accessManager,
    inferenceCredit,
    deployBlock: Number(managerReceipt.blockNumber),
    roles,
  };
}
