/**
 * A real anvil with ComputeToken deployed and wired (sdk/deploy.ts), one hardware class, holders
 * onboarded and granted, and helpers to redeem and to check the books. Accounts (ANVIL_KEYS):
 * 0 deployer (admin, HR, operations), 1 the redeemer, 2.. holders.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  keccak256,
  parseEventLogs,
  type PublicClient,
  stringToHex,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deployComputeTokens } from "../../../sdk/deploy.js";
import type { Deployment } from "../../../sdk/deployment.js";
import { computeTokenAbi } from "../../../sdk/generated/abi.js";
import { encodeSpec, type JobSpec, priorityIndex, specSeconds } from "../../../sdk/jobSpec.js";
import { encodeLotId } from "../../../sdk/lotId.js";
import { ANVIL_KEYS, type AnvilHandle, startAnvil } from "../../../devkit/startAnvil.js";
import { rpcAt } from "../../../devkit/localChain.js";
import { parseRedeemerConfig, type RedeemerConfigInput } from "../../../redeemer/config.js";

export const CLASS = { name: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, maxGpus: 8 } as const;
export const DIGEST = `sha256:${"ab12".repeat(16)}`;
export const IMAGE = `registry.example.com/team/train@${DIGEST}`;
export const POLICY = { allowedRegistries: ["registry.example.com"] };

type Wallet = WalletClient<Transport, Chain, Account>;

export interface ChainFixture {
  anvil: AnvilHandle;
  rpcUrl: string;
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  deployer: Wallet;
  redeemerKey: Hex;
  holders: Wallet[];
  deployment: Deployment;
  deploymentFile: string;
  classId: number;
  lotId: bigint;
  /** Units granted to each holder. */
  grantPerHolder: bigint;
  /** Redeems `spec` (or raw bytes with an explicit shape) as holder `h`; resolves to the redemption id. */
  redeem(h: number, spec: JobSpec | { bytes: Uint8Array; gpus: number; seconds: number; priority?: number }): Promise<bigint>;
  /** Sends `redeem` without waiting for it to be mined (for reorg tests with automine off). */
  balance(h: number): Promise<bigint>;
  redemption(id: bigint): Promise<{ status: number; reserved: bigint; used: bigint }>;
  mine(blocks: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startChainFixture(options: { holders?: number; grantPerHolder?: bigint; anvilArgs?: string[] } = {}): Promise<ChainFixture> {
  const anvil = await startAnvil({ args: options.anvilArgs ?? [] });
  try {
    return await setUpChain(anvil, options);
  } catch (err) {
    // A failed set-up must not leave anvil running (it would keep the test process alive).
    await anvil.stop();
    throw err;
  }
}

async function setUpChain(anvil: AnvilHandle, options: { holders?: number; grantPerHolder?: bigint }): Promise<ChainFixture> {
  const chain = defineChain({ id: 31337, name: "anvil", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [anvil.rpcUrl] } } });
  const transport = http(anvil.rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const wallet = (key: Hex): Wallet => createWalletClient({ chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 });
  const deployer = wallet(ANVIL_KEYS[0]);
  const redeemerKey = ANVIL_KEYS[1];
  const holderCount = options.holders ?? 3;
  const holders = ANVIL_KEYS.slice(2, 2 + holderCount).map((k) => wallet(k));
  const deployment = await deployComputeTokens(publicClient as PublicClient, deployer, {
    roles: { HR: [deployer.account.address], OPERATIONS: [deployer.account.address], REDEEMER: [privateKeyToAccount(redeemerKey).address] },
    launchTimeout: 3600,
  });
  const address = deployment.computeToken;
  const send = async (w: Wallet, functionName: string, args: readonly unknown[]) => {
    const hash = await w.writeContract({ address, abi: computeTokenAbi, functionName, args } as never);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${functionName} reverted`);
    return receipt;
  };
  await send(deployer, "defineClass", [CLASS.name, CLASS.productLabel, CLASS.memoryGiB, CLASS.maxGpus]);
  const classId = 1;
  await send(deployer, "onboard", [holders.map((h) => h.account.address)]);
  const block = await publicClient.getBlock();
  const lotId = encodeLotId({ classId, expiresAt: block.timestamp + 365n * 86400n, policy: "soulbound" });
  const grantPerHolder = options.grantPerHolder ?? 10_000_000n;
  await send(deployer, "grantBatch", [keccak256(stringToHex("grant-1")), holders.map((h) => h.account.address), holders.map(() => lotId), holders.map(() => grantPerHolder)]);

  const dir = mkdtempSync(join(tmpdir(), "ctk-chain-"));
  const deploymentFile = join(dir, "deployment.json");
  writeFileSync(deploymentFile, JSON.stringify(deployment, null, 2));

  return {
    anvil,
    rpcUrl: anvil.rpcUrl,
    chain,
    publicClient: publicClient as PublicClient<Transport, Chain>,
    deployer,
    redeemerKey,
    holders,
    deployment,
    deploymentFile,
    classId,
    lotId,
    grantPerHolder,
    async redeem(h, spec) {
      const raw = "bytes" in spec ? spec : { bytes: encodeSpec(spec as JobSpec), gpus: spec.gpus, seconds: specSeconds(spec), priority: priorityIndex(spec.priority) };
      const receipt = await send(holders[h]!, "redeem", [classId, [lotId], raw.gpus, raw.seconds, raw.priority ?? 1, toHex(raw.bytes)]);
      const [event] = parseEventLogs({ abi: computeTokenAbi, logs: receipt.logs, eventName: "RedemptionRequested" });
      return event!.args.id;
    },
    async balance(h) {
      return publicClient.readContract({ address, abi: computeTokenAbi, functionName: "balanceOf", args: [holders[h]!.account.address, lotId] });
    },
    async redemption(id) {
      const r = await publicClient.readContract({ address, abi: computeTokenAbi, functionName: "getRedemption", args: [id] });
      return { status: r.status, reserved: r.reserved, used: r.used };
    },
    async mine(blocks) {
      await rpcAt(anvil.rpcUrl, "anvil_mine", [`0x${blocks.toString(16)}`]);
    },
    async stop() {
      await anvil.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** Every lifecycle event of the contract, decoded, for end-of-test accounting. */
export async function lifecycleOf(
  f: ChainFixture,
): Promise<{ settled: Map<bigint, bigint[]>; rejected: Map<bigint, number[]>; running: Map<bigint, number>; requested: bigint[] }> {
  const logs = await f.publicClient.getLogs({ address: f.deployment.computeToken, fromBlock: BigInt(f.deployment.deployBlock), toBlock: "latest" });
  const events = parseEventLogs({ abi: computeTokenAbi, logs });
  const settled = new Map<bigint, bigint[]>();
  const rejected = new Map<bigint, number[]>();
  const running = new Map<bigint, number>();
  const requested: bigint[] = [];
  for (const e of events) {
    if (e.eventName === "RedemptionRequested") requested.push(e.args.id);
    if (e.eventName === "RedemptionRunning") running.set(e.args.id, (running.get(e.args.id) ?? 0) + 1);
    if (e.eventName === "RedemptionSettled") settled.set(e.args.id, [...(settled.get(e.args.id) ?? []), e.args.used]);
    if (e.eventName === "RedemptionRejected") rejected.set(e.args.id, [...(rejected.get(e.args.id) ?? []), e.args.reasonCode]);
  }
  return { settled, rejected, running, requested };
}

/** A job spec that runs `node -e <script>` on the local executor. */
export function nodeJob(script: string, over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: "node-job",
    image: IMAGE,
    command: ["node"],
    args: ["-e", script],
    env: {},
    gpus: 1,
    hours: 0.01,
    priority: "normal",
    ...over,
  } as JobSpec;
}

/** The namespace, Kueue queue and priority classes the Kubernetes executor tests configure. */
export const KUBE_QUEUES = {
  namespace: "gpu-jobs",
  localQueue: "team-gpus",
  priorityClasses: { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" },
  workloadPriorityClasses: { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" },
};

/**
 * A redeemer's configuration against the fixture's chain, as the redeemer tests run it: no
 * confirmations, 50 ms polls, the API on a free port, receipts under `dir`, the fixture's policy and
 * a local executor that is never started; `over` replaces any of it.
 */
export const redeemerConfigFor = (f: ChainFixture, dir: string, over: Partial<RedeemerConfigInput> = {}) =>
  parseRedeemerConfig({
    rpcUrl: f.rpcUrl,
    deployment: f.deployment,
    privateKey: f.redeemerKey,
    confirmations: 0,
    pollIntervalMs: 50,
    receiptsDir: join(dir, "receipts"),
    api: { port: 0 },
    policy: POLICY,
    executor: { kind: "local", local: { dataDir: join(dir, "unused") } },
    ...over,
  });
