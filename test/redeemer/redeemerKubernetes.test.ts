/**
 * End to end against a real anvil with the Kubernetes executor, driven through the real
 * @kubernetes/client-node against the in-repo fake API server: Jobs named from the redemption,
 * usage summed over preempted and resumed run segments, and the same outcome when the API
 * server answers 500, times out or returns 409 on a fifth of calls and RPC calls fail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { createKubernetesExecutor } from "../../redeemer/executor/kubernetes/index.js";
import { type Redeemer, type RedeemerConfigInput, startRedeemer } from "../../redeemer/index.js";
import { ManualClock, startFakeKube, type FakeKube } from "../../devkit/fakeKube.js";
import { type ChainFixture, IMAGE, KUBE_QUEUES, lifecycleOf, nodeJob, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { startFlakyRpc } from "./support/flakyRpc.js";
import { waitFor } from "./support/waitFor.js";

const SETTLED = 3;
const KUBE = {
  ...KUBE_QUEUES,
  resyncMs: 1_000,
  requestTimeoutMs: 1_000,
  maxAttempts: 4,
  retryBaseMs: 10,
  retryMaxMs: 100,
};

const kubeSpec = (over: object = {}) => nodeJob("", { command: ["python", "train.py"], args: [], image: IMAGE, ...over });

describe("redeemer end to end (anvil + kubernetes executor on the fake API server)", function () {
  this.timeout(180_000);
  let f: ChainFixture;
  let fake: FakeKube;
  let dir: string;
  let redeemer: Redeemer | undefined;

  const configFor = (over: Partial<RedeemerConfigInput> = {}) =>
    redeemerConfigFor(f, dir, {
      logLevel: "silent",
      executor: { kind: "kubernetes", kubernetes: KUBE, kubeconfig: join(dir, "kubeconfig.json") },
      retry: { baseMs: 20, maxMs: 300 },
      launch: { maxAttempts: 20, concurrency: 16 },
      tx: { concurrency: 8, receiptTimeoutMs: 10_000 },
      ...over,
    });

  before(async () => {
    f = await startChainFixture({ holders: 4 });
  });
  after(async () => {
    await f?.stop();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-redeemer-kube-"));
  });
  afterEach(async () => {
    await redeemer?.stop();
    redeemer = undefined;
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates the Job named from the redemption, and settles usage summed over a preempted and resumed Job's segments", async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    fake = await startFakeKube({ clock });
    const executor = createKubernetesExecutor({ kubeConfig: fake.kubeConfig(), config: KUBE, now: () => clock.now() });
    redeemer = await startRedeemer(configFor(), { executor });
    await redeemer.ready;
    const before = await f.balance(0);
    const id = await f.redeem(0, kubeSpec({ gpus: 2, hours: 1 }));
    const name = `ctk-redemption-${id}`;
    await waitFor("Job created and redemption running", async () => fake.jobsCreated(name) === 1 && (await f.redemption(id)).status === 2);
    const job = fake.job(name)!;
    expect(job.metadata.labels).to.include({ "kueue.x-k8s.io/queue-name": "team-gpus", "kueue.x-k8s.io/priority-class": "wl-normal" });

    fake.startJob(name, { node: "gpu-node-1" });
    clock.advanceSeconds(600);
    fake.preemptJob(name);
    clock.advanceSeconds(120);
    fake.resumeJob(name, { node: "gpu-node-2" });
    clock.advanceSeconds(300);
    fake.succeedJob(name);

    await waitFor("settled", async () => (await f.redemption(id)).status === SETTLED);
    const r = await f.redemption(id);
    expect(r.used).to.equal(2n * 900n); // 2 GPUs × (600 + 300) s at 1.0x; the preempted 120 s are free
    expect(await f.balance(0)).to.equal(before - r.used);
    const receipt = JSON.parse(readFileSync(join(dir, "receipts", `${id}.json`), "utf8"));
    expect(receipt.segments.map((s: { node: string }) => s.node)).to.deep.equal(["gpu-node-1", "gpu-node-2"]);
    expect(receipt).to.include({ executor: "kubernetes", jobName: name, node: "gpu-node-2", phase: "succeeded" });
    expect(fake.jobsCreated(name)).to.equal(1);
  });

  it("builds the executor from the kubeconfig file in the configuration and rejects a bad spec without creating a Job", async () => {
    fake = await startFakeKube({ autoRun: { startAfterMs: 20, runMs: 100 } });
    writeFileSync(join(dir, "kubeconfig.json"), fake.kubeConfig().exportConfig());
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    expect(redeemer.executor.kind).to.equal("kubernetes");
    const good = await f.redeem(1, kubeSpec({ gpus: 1, hours: 0.1 }));
    const bad = await f.redeem(1, kubeSpec({ gpus: 1, hours: 0.1, image: "registry.example.com/team/train:latest" }));
    fake.setAutoRun({ startAfterMs: 20, runMs: 100 });
    await waitFor("both over", async () => (await f.redemption(good)).status === SETTLED && (await f.redemption(bad)).status === 4);
    const { rejected } = await lifecycleOf(f);
    expect(rejected.get(bad)).to.deep.equal([REJECT_REASONS.IMAGE_NOT_PINNED]);
    expect(fake.jobsCreated(`ctk-redemption-${bad}`)).to.equal(0);
    expect(fake.jobsCreated(`ctk-redemption-${good}`)).to.equal(1);
    const ready = await fetch(`http://127.0.0.1:${redeemer.port}/readyz`);
    expect(ready.status).to.equal(200);
  });

  it("launches a backlog read from the history in chunks, skipping the redemptions it says are over", async () => {
    // A backlog over many blocks, some of it rejected further on in the history (by another
    // redeemer, before this one starts): those must not get a Job, even though their requests are
    // read — and launching may start — before the whole history is.
    fake = await startFakeKube({ autoRun: { startAfterMs: 20, runMs: 100 } });
    writeFileSync(join(dir, "kubeconfig.json"), fake.kubeConfig().exportConfig());
    const ids: bigint[] = [];
    for (let i = 0; i < 12; i++) ids.push(await f.redeem(i % 4, kubeSpec({ name: `backlog-${i}`, gpus: 1, hours: 0.1 })));
    const other = createWalletClient({ chain: f.chain, transport: http(f.rpcUrl), account: privateKeyToAccount(f.redeemerKey) });
    const over = [ids[2]!, ids[9]!];
    for (const id of over) {
      const hash = await other.writeContract({ address: f.deployment.computeToken, abi: computeTokenAbi, functionName: "reject", args: [id, REJECT_REASONS.LAUNCH_FAILED] });
      await f.publicClient.waitForTransactionReceipt({ hash });
    }
    redeemer = await startRedeemer(configFor({ maxBlockRange: 4 }));
    await redeemer.ready;
    const open = ids.filter((id) => !over.includes(id));
    // Settled, so that the chain this file shares holds nothing open for the next test.
    await waitFor("every open redemption settled", async () => {
      const { settled } = await lifecycleOf(f);
      return open.every((id) => settled.has(id));
    });
    for (const id of open) expect(fake.jobsCreated(`ctk-redemption-${id}`), `Job of ${id}`).to.equal(1);
    for (const id of over) expect(fake.jobsCreated(`ctk-redemption-${id}`), `Job of rejected ${id}`).to.equal(0);
    // Known only from its logs when the history said it was over: dropped at once, its status kept as a byte.
    expect(redeemer.book.get(ids[2]!)).to.equal(undefined);
    expect(redeemer.book.droppedStatus(ids[2]!)).to.equal("Rejected");
  });

  it("reaches the same outcome when the API server fails, times out or answers 409 on a fifth of calls and RPC calls fail", async () => {
    fake = await startFakeKube({
      seed: 42,
      autoRun: { startAfterMs: 30, runMs: 150 },
      faults: { errorRate: 0.2, conflictRate: 0.2, delayRate: 0.2, delayMs: 1_500 },
    });
    writeFileSync(join(dir, "kubeconfig.json"), fake.kubeConfig().exportConfig());
    const rpc = await startFlakyRpc(f.rpcUrl, { failureRate: 0.2, seed: 3 });
    try {
      const startBalances = await Promise.all(f.holders.map((_, h) => f.balance(h)));
      redeemer = await startRedeemer(configFor({ rpcUrl: rpc.url }));
      await redeemer.ready;
      const ids: bigint[] = [];
      for (let i = 0; i < 24; i++) ids.push(await f.redeem(i % 4, kubeSpec({ name: `faulty-${i}`, gpus: 1 + (i % 2), hours: 0.1 })));
      await waitFor(
        "every redemption settled",
        async () => {
          const { settled } = await lifecycleOf(f);
          return ids.every((id) => settled.has(id));
        },
        150_000,
        200,
      );
      const { settled, rejected, running } = await lifecycleOf(f);
      for (const id of ids) {
        expect(settled.get(id), `redemption ${id} settled once`).to.have.length(1);
        expect(rejected.has(id)).to.equal(false);
        expect(running.get(id)).to.equal(1);
        expect(fake.jobsCreated(`ctk-redemption-${id}`), `Job of ${id} created once`).to.equal(1);
      }
      expect(fake.stats.injected.errors + fake.stats.injected.conflicts + fake.stats.injected.delays).to.be.greaterThan(5);
      expect(rpc.stats.failedBefore + rpc.stats.failedAfter).to.be.greaterThan(5);
      // Conservation: per holder, what is held now is what was held minus what was used.
      const used = new Map<number, bigint>();
      for (const [i, id] of ids.entries()) used.set(i % 4, (used.get(i % 4) ?? 0n) + settled.get(id)![0]!);
      for (let h = 0; h < 4; h++) expect(await f.balance(h)).to.equal(startBalances[h]! - (used.get(h) ?? 0n));
      const supply = await f.publicClient.readContract({ address: f.deployment.computeToken, abi: computeTokenAbi, functionName: "totalSupply", args: [f.lotId] });
      expect(supply).to.equal((await Promise.all(f.holders.map((_, h) => f.balance(h)))).reduce((a, b) => a + b, 0n));
    } finally {
      await redeemer?.stop();
      redeemer = undefined;
      await rpc.close();
    }
  });
});
