/**
 * A long redemption history for the redeemer benchmark: `terminal` redemptions over (most
 * rejected, every tenth run and settled) followed by `open` ones nobody has acted on, all real
 * transactions on a real anvil (redeem by 8 holders, then reject / markRunning + settle by the
 * redeemer), sent as JSON-RPC batches with automine off and mined a few thousand per block.
 *
 * Generating 100,000 takes minutes, so the chain is generated once and cached as anvil's state
 * file under bench/.cache/ (gitignored), keyed by the sizes and the contract's bytecode; a re-run
 * loads it (`anvil --load-state`) in seconds.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Address, defineChain, encodeFunctionData, type Hex, keccak256, type PublicClient, stringToHex, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createChainClient, createChainWalletClient } from "../sdk/client.js";
import { COMPUTE_TOKEN_ARTIFACT, deployComputeTokens } from "../sdk/deploy.js";
import type { Deployment } from "../sdk/deployment.js";
import { computeTokenAbi } from "../sdk/generated/abi.js";
import { encodeSpec, type JobSpec } from "../sdk/jobSpec.js";
import { encodeLotId } from "../sdk/lotId.js";
import { REJECT_REASONS } from "../sdk/reasons.js";
import { rpcAt as rpc, type RpcCall, rpcBatchAt } from "../devkit/localChain.js";
import { ANVIL_KEYS, type AnvilHandle, startAnvil } from "../devkit/startAnvil.js";

const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
export const spec = (i: number): JobSpec => ({
  name: `bench-${i}`,
  image: IMAGE,
  command: ["python", "train.py"],
  args: ["--seed", String(i)],
  env: { SEED: String(i) },
  gpus: 1,
  hours: 0.01,
  priority: "normal",
  project: "bench",
});

export interface Setup {
  deployment: Deployment;
  lotId: bigint;
  holders: Address[];
}

const log = (...a: unknown[]) => console.error("[bench:redeemer]", ...a);

export async function setUp(rpcUrl: string, holderCount: number, grant: bigint): Promise<Setup> {
  const chain = defineChain({ id: 31337, name: "anvil", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const publicClient = createChainClient(rpcUrl, "local", { chain, pollingInterval: 20 });
  const deployer = createChainWalletClient(rpcUrl, "local", privateKeyToAccount(ANVIL_KEYS[0]), { chain, pollingInterval: 20 });
  const deployment = await deployComputeTokens(publicClient as PublicClient, deployer, {
    roles: { HR: [deployer.account.address], OPERATIONS: [deployer.account.address], REDEEMER: [privateKeyToAccount(ANVIL_KEYS[1]).address] },
    launchTimeout: 86_400,
  });
  const address = deployment.computeToken;
  const send = async (functionName: string, args: readonly unknown[]) => {
    const hash = await deployer.writeContract({ address, abi: computeTokenAbi, functionName, args } as never);
    await publicClient.waitForTransactionReceipt({ hash });
  };
  const holders = ANVIL_KEYS.slice(2, 2 + holderCount).map((k) => privateKeyToAccount(k).address);
  await send("defineClass", ["H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, 8]);
  await send("onboard", [holders]);
  const block = await publicClient.getBlock();
  const lotId = encodeLotId({ classId: 1, expiresAt: block.timestamp + 365n * 86_400n, policy: "soulbound" });
  await send("grantBatch", [keccak256(stringToHex(`bench-${Date.now()}`)), holders, holders.map(() => lotId), holders.map(() => grant)]);
  return { deployment, lotId, holders };
}

/** The calldata of the benchmark's i-th redemption (1 GPU × 36 s at normal priority = 36 units). */
const redeemData = (s: Setup, i: number): Hex => encodeFunctionData({ abi: computeTokenAbi, functionName: "redeem", args: [1, [s.lotId], 1, 36, 1, toHex(encodeSpec(spec(i)))] });

export interface History extends Setup {
  terminal: number;
  open: number;
  /** The chain's head once generated. */
  head: number;
}

const CACHE_DIR = fileURLToPath(new URL("./.cache/", import.meta.url));
/** Redemptions per block. */
const PER_BLOCK = 2_000;
/** Calls per JSON-RPC batch. */
const PER_POST = 500;
const HOLDERS = 8;
const ANVIL_ARGS = ["--gas-limit", "4000000000", "--order", "fifo"];

function cacheKey(terminal: number, open: number): string {
  const bytecode = readFileSync(fileURLToPath(new URL(`../artifacts/${COMPUTE_TOKEN_ARTIFACT}`, import.meta.url)), "utf8");
  return `history-${terminal}-${open}-v1-${createHash("sha256").update(bytecode).digest("hex").slice(0, 12)}`;
}

/** An anvil holding the history (loaded from the cache, or generated and cached), started with `anvilArgs` besides. */
export async function historyChain(terminal: number, open: number, anvilArgs: string[] = []): Promise<{ anvil: AnvilHandle; history: History }> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const key = cacheKey(terminal, open);
  const statePath = join(CACHE_DIR, `${key}.state.json`);
  const metaPath = join(CACHE_DIR, `${key}.meta.json`);
  if (!existsSync(statePath) || !existsSync(metaPath)) await generate(terminal, open, statePath, metaPath);
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Omit<History, "lotId"> & { lotId: string };
  const t0 = performance.now();
  // A long history takes minutes to load: wait up to 10 minutes for anvil to answer.
  const anvil = await startAnvil({ args: [...ANVIL_ARGS, ...anvilArgs, "--load-state", statePath], readyTimeoutMs: 600_000 });
  const head = Number(BigInt((await rpc(anvil.rpcUrl, "eth_blockNumber")) as string));
  if (head !== meta.head) {
    await anvil.stop();
    throw new Error(`the cached chain ${statePath} loaded with head ${head}, expected ${meta.head}: delete it to generate it again`);
  }
  log(`history of ${terminal.toLocaleString("en")} + ${open.toLocaleString("en")} open loaded from ${statePath} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { anvil, history: { ...meta, lotId: BigInt(meta.lotId) } };
}

function endsWithBrace(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, statSync(file).size - 1);
    return b.toString() === "}";
  } finally {
    closeSync(fd);
  }
}

async function generate(terminal: number, open: number, statePath: string, metaPath: string): Promise<void> {
  const tmpState = `${statePath}.partial`;
  const anvil = await startAnvil({ args: [...ANVIL_ARGS, "--dump-state", tmpState] });
  const url = anvil.rpcUrl;
  try {
    const s = await setUp(url, HOLDERS, 10n ** 15n);
    const address = s.deployment.computeToken;
    const redeemer = privateKeyToAccount(ANVIL_KEYS[1]).address;
    const total = terminal + open;
    log(`generating a history of ${terminal.toLocaleString("en")} redemptions over and ${open.toLocaleString("en")} open (cached afterwards)…`);
    await rpc(url, "evm_setAutomine", [false]);
    const nonces = new Map<Address, number>();
    for (const a of [...s.holders, redeemer]) nonces.set(a, Number(BigInt((await rpc(url, "eth_getTransactionCount", [a, "latest"])) as string)));
    const tx = (from: Address, data: Hex, gas: number) => {
      const nonce = nonces.get(from)!;
      nonces.set(from, nonce + 1);
      return { method: "eth_sendTransaction", params: [{ from, to: address, data, gas: toHex(gas), nonce: toHex(nonce) }] };
    };
    const sendAndMine = async (calls: RpcCall[]) => {
      for (let i = 0; i < calls.length; i += PER_POST) await rpcBatchAt(url, calls.slice(i, i + PER_POST));
      for (;;) {
        await rpc(url, "evm_mine");
        const status = (await rpc(url, "txpool_status")) as { pending: string; queued: string };
        if (BigInt(status.pending) === 0n && BigInt(status.queued) === 0n) break;
      }
    };
    const count = async () =>
      BigInt((await rpc(url, "eth_call", [{ to: address, data: encodeFunctionData({ abi: computeTokenAbi, functionName: "redemptionCount" }) }, "latest"])) as string);
    const t0 = performance.now();
    let made = 0;
    let settled = 0;
    let rejected = 0;
    while (made < total) {
      const n = Math.min(PER_BLOCK, total - made);
      const first = made + 1;
      await sendAndMine(Array.from({ length: n }, (_, k) => tx(s.holders[(made + k) % HOLDERS]!, redeemData(s, made + k), 600_000)));
      made += n;
      if ((await count()) !== BigInt(made)) throw new Error(`expected ${made} redemptions on-chain, found ${await count()}`);
      // Every redemption up to `terminal` is over: every tenth settled, the others rejected.
      const calls: RpcCall[] = [];
      for (let id = first; id <= Math.min(made, terminal); id++) {
        if (id % 10 === 0) {
          calls.push(tx(redeemer, encodeFunctionData({ abi: computeTokenAbi, functionName: "markRunning", args: [BigInt(id), keccak256(toHex(`job-${id}`))] }), 200_000));
          calls.push(tx(redeemer, encodeFunctionData({ abi: computeTokenAbi, functionName: "settle", args: [BigInt(id), 20n, keccak256(toHex(`receipt-${id}`))] }), 400_000));
          settled++;
        } else {
          calls.push(tx(redeemer, encodeFunctionData({ abi: computeTokenAbi, functionName: "reject", args: [BigInt(id), REJECT_REASONS.LAUNCH_FAILED] }), 400_000));
          rejected++;
        }
      }
      if (calls.length) await sendAndMine(calls);
      const rate = (made / ((performance.now() - t0) / 1000)).toFixed(0);
      log(`  ${made.toLocaleString("en")} / ${total.toLocaleString("en")} redemptions (${rate}/s with their ends)`);
    }
    await rpc(url, "evm_setAutomine", [true]);
    // Every end really happened (a reverted transaction would leave a redemption open).
    const ends = (await rpc(url, "eth_getLogs", [
      {
        address,
        fromBlock: toHex(s.deployment.deployBlock),
        toBlock: "latest",
        topics: [[keccak256(toHex("RedemptionRejected(uint256,address,uint16,uint256)")), keccak256(toHex("RedemptionSettled(uint256,address,uint256,uint256,bytes32)"))]],
      },
    ])) as unknown[];
    if (ends.length !== terminal) throw new Error(`expected ${terminal} redemptions over, the chain has ${ends.length}`);
    const head = Number(BigInt((await rpc(url, "eth_blockNumber")) as string));
    log(`history generated: ${settled} settled, ${rejected} rejected, ${open} open, ${head} blocks, in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const meta = { ...s, lotId: s.lotId.toString(), terminal, open, head };
    // anvil writes its state as it exits: that takes a while for a long history (no SIGKILL after 5 s here).
    const exited = new Promise((r) => anvil.process.once("exit", r));
    anvil.process.kill("SIGTERM");
    await exited;
    if (!endsWithBrace(tmpState)) throw new Error(`anvil's state dump ${tmpState} is torn`);
    renameSync(tmpState, statePath);
    writeFileSync(metaPath, JSON.stringify(meta, null, 2));
  } finally {
    await anvil.stop();
  }
}
