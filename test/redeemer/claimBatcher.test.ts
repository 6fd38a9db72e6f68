/**
 * Issue 16 — claims in batches: the launches waiting for their on-chain claim at the same time go
 * in one markRunningBatch transaction; an id moved meanwhile (reclaimed) is skipped and never
 * launched; a batch whose transaction failed is retried without claiming or launching anything
 * twice; a claim whose launch never happened (a crash in between) is launched on the next start.
 * Real anvil, the real settler and TxSender, an in-memory executor.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createChainClient, createChainWalletClient } from "../../sdk/client.js";
import { accessManagerAbi, computeTokenAbi } from "../../sdk/generated/abi.js";
import { rpcAt } from "../../devkit/localChain.js";
import { NotRedeemerError } from "../../sdk/redemptions.js";
import { ROLES } from "../../sdk/roles.js";
import { type Redeemer, startRedeemer } from "../../redeemer/index.js";
import { jobNameFor } from "../../redeemer/executor/types.js";
import { ReceiptStore } from "../../redeemer/settler/receiptStore.js";
import { Settler } from "../../redeemer/settler/settler.js";
import { TxSender, type TxSenderContext } from "../../redeemer/settler/txSender.js";
import { type ChainFixture, lifecycleOf, nodeJob, redeemerConfigFor, startChainFixture } from "./support/chainFixture.js";
import { startFlakyRpc } from "./support/flakyRpc.js";
import { MemoryExecutor } from "./support/memoryExecutor.js";
import { waitFor } from "./support/waitFor.js";

const RUNNING = 2; // ComputeToken.RedemptionStatus.Running

describe("redeemer: claims in batches (issue 16)", function () {
  this.timeout(180_000);
  let f: ChainFixture;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "ctk-claims-"));
    dirs.push(d);
    return d;
  };

  beforeEach(async () => {
    f = await startChainFixture({ holders: 2 });
  });
  afterEach(async () => {
    await f?.stop();
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The redeemer's settler against `rpcUrl`, recording every claim transaction it sends. */
  async function settlerFor(rpcUrl: string, claimBatch: { maxBatch: number; maxInFlight: number }) {
    const publicClient = createChainClient(rpcUrl, "local", { chain: f.chain, pollingInterval: 20 });
    const walletClient = createChainWalletClient(rpcUrl, "local", privateKeyToAccount(f.redeemerKey), { chain: f.chain, pollingInterval: 20 });
    const address = f.deployment.computeToken;
    const receipts = new ReceiptStore(join(tempDir(), "receipts"));
    await receipts.init();
    const batches: { hash: Hex; asked: number; claimed: number; ms: number }[] = [];
    const settler = new Settler({
      chain: { publicClient, address },
      sender: new TxSender({ publicClient, walletClient, address } as unknown as TxSenderContext, { receiptTimeoutMs: 10_000, pollingIntervalMs: 20 }),
      receipts,
      chainId: f.chain.id,
      contract: address,
      executorKind: "local",
      claimBatch,
      onTransaction: (...tx) => {
        if (tx[0] === "markRunningBatch") batches.push({ asked: tx[1], claimed: tx[2], hash: tx[3], ms: tx[4] });
      },
    });
    return { settler, batches };
  }

  /** Each redemption claimed on-chain exactly once, and launched exactly once. */
  const expectClaimedAndLaunchedOnce = async (executor: MemoryExecutor, ids: readonly bigint[]) => {
    const { running } = await lifecycleOf(f);
    for (const id of ids) {
      expect(running.get(id), `RedemptionRunning of ${id}`).to.equal(1);
      expect(
        executor.launches.filter((l) => l.redemptionId === id),
        `launches of ${id}`,
      ).to.have.length(1);
    }
  };

  const redeemMany = async (n: number) => {
    const ids: bigint[] = [];
    for (let i = 0; i < n; i++) ids.push(await f.redeem(i % 2, nodeJob("1", { name: `claim-${i}` })));
    return ids;
  };

  it("coalesces the claims asked for together into few transactions, each redemption claimed once", async () => {
    const ids = await redeemMany(40);
    const { settler, batches } = await settlerFor(f.rpcUrl, { maxBatch: 16, maxInFlight: 1 });
    const events = await Promise.all(ids.map((id) => settler.markRunning(id, jobNameFor(id))));
    // 40 asked at once, 16 at most per transaction: 16 + 16 + 8.
    expect(batches.map((b) => [b.asked, b.claimed])).to.deep.equal([
      [16, 16],
      [16, 16],
      [8, 8],
    ]);
    // Each send → receipt timed (the claim-batch metric): a positive time, under the test's own.
    for (const b of batches) expect(b.ms, `time of ${b.hash}`).to.be.within(1, 10_000);
    for (const e of events) expect([e.status, e.source]).to.deep.equal(["Running", "tx"]);
    expect(new Set(events.map((e) => e.txHash)).size).to.equal(3);
    const { running } = await lifecycleOf(f);
    for (const id of ids) expect(running.get(id), `RedemptionRunning of ${id}`).to.equal(1);
  });

  it("skips a redemption reclaimed between its request and its claim, and claims the others in the same transaction", async () => {
    const ids = await redeemMany(3);
    // Past the launch timeout, the holder of the second takes it back before the redeemer claims it.
    await rpcAt(f.rpcUrl, "evm_increaseTime", [3_601]);
    const reclaim = await f.holders[1]!.writeContract({ address: f.deployment.computeToken, abi: computeTokenAbi, functionName: "reclaim", args: [ids[1]!] } as never);
    await f.publicClient.waitForTransactionReceipt({ hash: reclaim });
    const { settler, batches } = await settlerFor(f.rpcUrl, { maxBatch: 256, maxInFlight: 2 });
    const [a, b, c] = await Promise.all(ids.map((id) => settler.markRunning(id, jobNameFor(id))));
    expect(batches.map((x) => [x.asked, x.claimed])).to.deep.equal([[3, 2]]);
    expect([a!.status, b!.status, c!.status]).to.deep.equal(["Running", "Reclaimed", "Running"]);
    expect(b!.source).to.equal("read");
    expect((await f.redemption(ids[1]!)).status).to.equal(5); // Reclaimed
  });

  it("fails every claim of a batch the contract refuses (no REDEEMER role) without sending it, and claims them once the role is back", async () => {
    const ids = await redeemMany(3);
    const redeemerAddress = privateKeyToAccount(f.redeemerKey).address;
    const manager = f.deployment.accessManager;
    const role = async (functionName: "revokeRole" | "grantRole") => {
      const args = functionName === "grantRole" ? [ROLES.REDEEMER, redeemerAddress, 0] : [ROLES.REDEEMER, redeemerAddress];
      const hash = await f.deployer.writeContract({ address: manager, abi: accessManagerAbi, functionName, args } as never);
      await f.publicClient.waitForTransactionReceipt({ hash });
    };
    const { settler, batches } = await settlerFor(f.rpcUrl, { maxBatch: 256, maxInFlight: 1 });
    await role("revokeRole");
    const refused = await Promise.allSettled(ids.map((id) => settler.markRunning(id, jobNameFor(id))));
    for (const r of refused) {
      expect(r.status).to.equal("rejected");
      expect((r as PromiseRejectedResult).reason).to.be.instanceOf(NotRedeemerError);
      expect(((r as PromiseRejectedResult).reason as NotRedeemerError).account).to.equal(redeemerAddress);
    }
    expect(batches, "transactions sent while refused").to.have.length(0);
    await role("grantRole");
    const events = await Promise.all(ids.map((id) => settler.markRunning(id, jobNameFor(id))));
    expect(events.map((e) => e.status)).to.deep.equal(["Running", "Running", "Running"]);
    expect(batches.map((b) => [b.asked, b.claimed])).to.deep.equal([[3, 3]]);
  });

  describe("in the redeemer", () => {
    let redeemer: Redeemer | undefined;
    afterEach(async () => {
      await redeemer?.stop();
      redeemer = undefined;
    });

    it("claims a backlog in a few transactions and launches every redemption once, after its claim", async () => {
      const ids = await redeemMany(60);
      const executor = new MemoryExecutor();
      const redeemerAddress = privateKeyToAccount(f.redeemerKey).address;
      redeemer = await startRedeemer(redeemerConfigFor(f, tempDir(), { retry: { baseMs: 20, maxMs: 200 } }), { executor });
      await redeemer.ready;
      await waitFor("every job launched", async () => ids.every((id) => executor.jobs.has(id)));
      const txs = await f.publicClient.getTransactionCount({ address: redeemerAddress });
      expect(txs, "claim transactions for 60 redemptions").to.be.at.most(6);
      await expectClaimedAndLaunchedOnce(executor, ids);
      for (const id of ids) expect((await f.redemption(id)).status).to.equal(RUNNING);
    });

    it("retries the claims of a batch whose transaction's answers were lost, without claiming or launching twice", async () => {
      // Once the redeemer is up, a third of its calls fail, half of those after reaching the node:
      // sends that landed but were not answered. The redemptions come after (their claims are live).
      const flaky = await startFlakyRpc(f.rpcUrl, { failureRate: 0, seed: 3 });
      try {
        const executor = new MemoryExecutor();
        redeemer = await startRedeemer(redeemerConfigFor(f, tempDir(), { rpcUrl: flaky.url, retry: { baseMs: 20, maxMs: 200 }, tx: { receiptTimeoutMs: 2_000 } }), { executor });
        await redeemer.ready;
        flaky.setFailureRate(0.3);
        const ids = await redeemMany(12);
        await waitFor("every job launched", async () => ids.every((id) => executor.jobs.has(id)), 120_000);
        expect(flaky.stats.failedAfter, "answers lost after the node took the call").to.be.greaterThan(0);
        await expectClaimedAndLaunchedOnce(executor, ids);
      } finally {
        await redeemer?.stop();
        redeemer = undefined;
        await flaky.close();
      }
    });

    it("launches, on the next start, a redemption claimed by a batch whose launch never happened (a crash in between)", async () => {
      const ids = await redeemMany(3);
      // The claims land, then the redeemer dies before creating any job.
      const { settler } = await settlerFor(f.rpcUrl, { maxBatch: 256, maxInFlight: 1 });
      await Promise.all(ids.map((id) => settler.markRunning(id, jobNameFor(id))));
      const executor = new MemoryExecutor();
      redeemer = await startRedeemer(redeemerConfigFor(f, tempDir(), { retry: { baseMs: 20, maxMs: 200 } }), { executor });
      await redeemer.ready;
      await waitFor("every job launched", async () => ids.every((id) => executor.jobs.has(id)));
      await expectClaimedAndLaunchedOnce(executor, ids);
    });
  });
});
