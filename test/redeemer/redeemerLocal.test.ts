/**
 * End to end against a real anvil with the local executor: burn → job (a short `node -e`
 * process) → settled with a refund; bad specs rejected and refunded; a burn reorganised away
 * before `confirmations` never launched; a restart rebuilds from the chain and the executor.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { keccak256, parseEventLogs } from "viem";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { rpcAt } from "../../devkit/localChain.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { type Redeemer, type RedeemerConfigInput, startRedeemer } from "../../redeemer/index.js";
import { type ChainFixture, IMAGE, lifecycleOf, nodeJob, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { sleep, waitFor } from "./support/waitFor.js";

const SETTLED = 3;
const REJECTED = 4;

describe("redeemer end to end (anvil + local executor)", function () {
  this.timeout(120_000);
  let f: ChainFixture;
  let dir: string;
  let redeemer: Redeemer | undefined;

  const configFor = (over: Partial<RedeemerConfigInput> = {}) =>
    redeemerConfigFor(f, dir, {
      logLevel: "silent",
      executor: {
        kind: "local",
        local: { dataDir: join(dir, "local"), gpus: [{ simulated: true, class: "H100-80GB", count: 4 }], timeScale: 0.01, heartbeatSeconds: 0.2, killGraceSeconds: 0.5 },
      },
      retry: { baseMs: 50, maxMs: 500 },
      ...over,
    });

  before(async () => {
    f = await startChainFixture();
  });
  after(async () => {
    await f?.stop();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-redeemer-"));
  });
  afterEach(async () => {
    await redeemer?.stop();
    redeemer = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a redeemed job and settles the GPU-seconds it used, refunding the rest, with its receipt hash on-chain", async () => {
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    const before = await f.balance(0);
    // 2 GPUs × 360 allotted s (0.1 h; 3.6 s real at timeScale 0.01); the job runs ~0.2 s real ≈ 20 s allotted.
    const id = await f.redeem(0, nodeJob("setTimeout(() => {}, 200)", { gpus: 2, hours: 0.1 }));
    const reserved = 720n;
    expect(await f.balance(0)).to.equal(before - reserved);

    await waitFor("settled", async () => (await f.redemption(id)).status === SETTLED);
    const r = await f.redemption(id);
    expect(r.used > 0n, `used ${r.used}`).to.equal(true);
    expect(r.used < reserved, `used ${r.used}`).to.equal(true);
    expect(await f.balance(0)).to.equal(before - r.used);

    // The receipt on disk hashes to what settle put on-chain, and the API serves the same bytes.
    const { settled } = await lifecycleOf(f);
    expect(settled.get(id)).to.deep.equal([r.used]);
    const logs = await f.publicClient.getLogs({ address: f.deployment.computeToken, fromBlock: 0n });
    const settledEvent = parseEventLogs({ abi: computeTokenAbi, logs, eventName: "RedemptionSettled" }).find((e) => e.args.id === id)!;
    const file = readFileSync(join(dir, "receipts", `${id}.json`));
    expect(keccak256(file)).to.equal(settledEvent.args.receiptHash);
    const receipt = JSON.parse(file.toString());
    expect(receipt).to.include({
      redemptionId: id.toString(),
      executor: "local",
      jobName: `ctk-redemption-${id}`,
      phase: "succeeded",
      exitCode: 0,
      gpus: 2,
      usedUnits: r.used.toString(),
    });
    expect(receipt.segments).to.have.length(1);

    const api = `http://127.0.0.1:${redeemer.port}`;
    const view = await (await fetch(`${api}/v1/redemptions/${id}`)).json();
    expect(view).to.include({ id: id.toString(), status: "Settled", phase: "settled", usedUnits: r.used.toString(), refundedUnits: (reserved - r.used).toString() });
    expect(view.receipt.hash).to.equal(settledEvent.args.receiptHash);
    expect(view.transactions.settled).to.equal(settledEvent.transactionHash);
    expect(view.job).to.include({ phase: "succeeded", exitCode: 0 });
    const raw = new Uint8Array(await (await fetch(`${api}/v1/redemptions/${id}/receipt`)).arrayBuffer());
    expect(keccak256(raw)).to.equal(settledEvent.args.receiptHash);
  });

  it("settles a job that exits non-zero with the time it used", async () => {
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    const id = await f.redeem(1, nodeJob("process.exit(3)", { hours: 0.1 }));
    await waitFor("settled", async () => (await f.redemption(id)).status === SETTLED);
    const receipt = JSON.parse(readFileSync(join(dir, "receipts", `${id}.json`), "utf8"));
    expect(receipt).to.include({ phase: "failed", exitCode: 3 });
  });

  it("rejects specs the policy refuses, each with its reason, and refunds them in full", async () => {
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    const before = await f.balance(2);
    const cases = [
      { spec: nodeJob("1", { image: `docker.io/library/node@sha256:${"ab12".repeat(16)}` }), code: REJECT_REASONS.IMAGE_NOT_ALLOWED },
      { spec: nodeJob("1", { image: "registry.example.com/team/train:latest" }), code: REJECT_REASONS.IMAGE_NOT_PINNED },
      { raw: { bytes: new Uint8Array([0x7b, 0xff, 0x7d]), gpus: 1, seconds: 36 }, code: REJECT_REASONS.NOT_UTF8 },
      { raw: { bytes: new TextEncoder().encode(JSON.stringify({ ...nodeJob("1"), privileged: true })), gpus: 1, seconds: 36 }, code: REJECT_REASONS.PRIVILEGED },
      { raw: { bytes: new TextEncoder().encode(JSON.stringify(nodeJob("1", { hours: 1 }))), gpus: 1, seconds: 36 }, code: REJECT_REASONS.HOURS_MISMATCH },
      // The local executor runs only its allowed commands: the policy says so before any launch.
      { spec: nodeJob("1", { command: ["bash"] }), code: REJECT_REASONS.COMMAND_NOT_ALLOWED },
    ];
    const ids: bigint[] = [];
    for (const c of cases) ids.push(await f.redeem(2, "raw" in c ? c.raw! : c.spec!));
    for (const id of ids) await waitFor(`redemption ${id} rejected`, async () => (await f.redemption(id)).status === REJECTED);
    const { rejected } = await lifecycleOf(f);
    expect(ids.map((id) => rejected.get(id))).to.deep.equal(cases.map((c) => [c.code]));
    expect(await f.balance(2)).to.equal(before);
    const view = await (await fetch(`http://127.0.0.1:${redeemer.port}/v1/redemptions/${ids[0]}`)).json();
    expect(view.status).to.equal("Rejected");
    expect(view.rejection).to.include({ code: REJECT_REASONS.IMAGE_NOT_ALLOWED, reason: "IMAGE_NOT_ALLOWED" });
    expect(view.rejection.detail).to.match(/docker\.io/);
    const list = await (await fetch(`http://127.0.0.1:${redeemer.port}/v1/redemptions?holder=${f.holders[2]!.account.address}`)).json();
    expect(list.redemptions.map((v: { id: string }) => v.id)).to.include.members(ids.map(String));
  });

  it("never launches a burn that is reorganised away before it is `confirmations` deep", async () => {
    redeemer = await startRedeemer(configFor({ confirmations: 3 }));
    await redeemer.ready;
    const doomed = await f.redeem(0, nodeJob("1", { hours: 0.1 }));
    await f.mine(1); // 1 deep: not yet confirmed
    await sleep(300);
    expect(await redeemer.executor.get(doomed)).to.equal(undefined);
    await rpcAt(f.rpcUrl, "anvil_reorg", [2, []]);
    // The id is reused by the next burn on the new chain; that one is real and must run.
    const kept = await f.redeem(0, nodeJob("1", { hours: 0.1, name: "kept" }));
    expect(kept).to.equal(doomed);
    await f.mine(3);
    await waitFor("the surviving burn settled", async () => (await f.redemption(kept)).status === SETTLED);
    const job = await redeemer.executor.get(kept);
    const receipt = JSON.parse(readFileSync(join(dir, "receipts", `${kept}.json`), "utf8"));
    expect(job?.phase).to.equal("succeeded");
    // The launched job is the surviving burn's spec ("kept"), not the reorganised one's.
    const records = readFileSync(join(dir, "local", "jobs", `ctk-redemption-${kept}.json`), "utf8");
    expect(JSON.parse(records).spec.name).to.equal("kept");
    expect(receipt.redemptionId).to.equal(kept.toString());
  });

  it("after a restart, finishes what the previous run left from the chain and the executor alone, the job it left running paid in full", async () => {
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    // A job long enough to be running when the redeemer stops.
    const id = await f.redeem(1, nodeJob("setTimeout(() => {}, 1500)", { hours: 0.1 }));
    await waitFor("running on-chain", async () => (await f.redemption(id)).status === 2);
    await redeemer.stop();
    redeemer = undefined;
    // While it was down: a new burn, and a bad one.
    const fresh = await f.redeem(1, nodeJob("1", { hours: 0.1 }));
    const bad = await f.redeem(1, nodeJob("1", { image: `ghcr.io/x/y@sha256:${"ab12".repeat(16)}` }));
    redeemer = await startRedeemer(configFor());
    await redeemer.ready;
    await waitFor("all three over", async () => {
      const s = await Promise.all([id, fresh, bad].map(async (x) => (await f.redemption(x)).status));
      return s[0] === SETTLED && s[1] === SETTLED && s[2] === REJECTED;
    });
    const { settled, running } = await lifecycleOf(f);
    expect(running.get(id)).to.equal(1);
    expect(settled.get(id)).to.have.length(1);
    // The stop did not cost the job: it ran on, under the next run, to its end, and is paid in full (1.5 s = 150 GPU-seconds here).
    expect(await redeemer.executor.get(id)).to.include({ phase: "succeeded", exitCode: 0 });
    expect(settled.get(id)![0]).to.be.at.least(150n);
    expect(IMAGE).to.be.a("string");
  });
});
