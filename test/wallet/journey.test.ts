/**
 * The employee's journey end to end on anvil with the real redeemer running (its executor faked in
 * memory): HR grants, the employee checks the balance, gives a colleague two hours, redeems, follows
 * the status to settled and sees the refund; a second redemption is rejected by the redeemer's
 * policy and refunded; a third is reclaimed after the launch timeout with no redeemer running.
 * The auditor then verifies that history, receipts included.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { keccak256, stringToBytes, type Address } from "viem";
import { importKeystore, parseSecret } from "../../sdk/keystore.js";
import { encodeLotId } from "../../sdk/lotId.js";
import { writeComputeToken } from "../../sdk/write.js";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { parseRedeemerConfig, startRedeemer, type Redeemer } from "../../redeemer/index.js";
import { LOCAL_LAUNCH_TIMEOUT, LOCAL_ROLE_KEYS, localEmployeeKey } from "../../devkit/localAccounts.js";
import { increaseTime, startLocalChain, type LocalChain } from "../../devkit/localChain.js";
import { FakeExecutor } from "./support/fakeExecutor.js";
import { runCtk, startCtk } from "./support/runCtk.js";

const PASSWORD = "journey password";
const H100 = 2;
const H = 3600n;
const DIGEST = `sha256:${"ab12".repeat(16)}`;

describe("employee journey: ctk balance / transfer / redeem / status / reclaim, then ctk audit verify", function () {
  this.timeout(600_000);
  let chain: LocalChain;
  let dir: string;
  let keystore: string;
  let deploymentFile: string;
  let receiptsDir: string;
  let redeemer: Redeemer | undefined;
  let executor: FakeExecutor;
  let me: Address;
  let colleague: Address;
  let outsider: Address;

  let redeemerApi = "";
  const ctk = (args: string[]) =>
    runCtk(["--rpc", chain.anvil.rpcUrl, "--deployment", deploymentFile, ...args], {
      env: { CTK_PASSWORD: PASSWORD, CTK_PRIVATE_KEY: undefined, CTK_REDEEMER_API: redeemerApi },
    });
  /** Signing commands say first which address they sign as; the rest of stderr is the error. */
  const asMe = async (args: string[]) => {
    const run = await ctk([...args, "--keystore", keystore]);
    const note = `signing as ${me} (keystore `;
    if (run.stderr.startsWith(note)) return { ...run, stderr: run.stderr.slice(run.stderr.indexOf("\n") + 1) };
    return run;
  };
  const balanceOf = (who: Address, lotId: bigint) =>
    chain.reader.publicClient.readContract({ address: chain.deployment.computeToken, abi: computeTokenAbi, functionName: "balanceOf", args: [who, lotId] });
  const writeSpec = (name: string, spec: object) => {
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(spec));
    return file;
  };
  const spec = (name: string, image = `registry.example.com/team/${name}@${DIGEST}`) => ({
    name,
    image,
    command: ["python", "train.py"],
    gpus: 2,
    hours: 1,
  });
  let lots: { transferable: bigint; soulbound: bigint };

  before(async function () {
    chain = await startLocalChain();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-journey-"));
    keystore = path.join(dir, "keystore");
    receiptsDir = path.join(dir, "receipts");
    deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    me = chain.employeeAddress(0);
    colleague = chain.employeeAddress(1);
    outsider = chain.employeeAddress(3);
    await importKeystore(parseSecret(localEmployeeKey(0)), PASSWORD, { dir: keystore, scrypt: { N: 1 << 12 } });

    // HR onboards two employees and grants the first 20 transferable and 5 soulbound H100 hours.
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    lots = {
      transferable: encodeLotId({ classId: H100, expiresAt: now + 30n * 86_400n, policy: "transferable" }),
      soulbound: encodeLotId({ classId: H100, expiresAt: now + 10n * 86_400n, policy: "soulbound" }),
    };
    await writeComputeToken(chain.hr, "onboard", [[me, colleague]]);
    await writeComputeToken(chain.hr, "grantBatch", [keccak256(stringToBytes("journey-payroll")), [me, me], [lots.transferable, lots.soulbound], [20n * H, 5n * H]]);

    executor = new FakeExecutor({ runMs: 1500, usedSecondsPerGpu: 1800 });
    redeemer = await startRedeemer(
      parseRedeemerConfig({
        rpcUrl: chain.anvil.rpcUrl,
        deployment: chain.deployment,
        privateKey: LOCAL_ROLE_KEYS.REDEEMER,
        confirmations: 0,
        pollIntervalMs: 100,
        receiptsDir,
        api: { port: 0 },
        logLevel: "silent",
        policy: { allowedRegistries: ["registry.example.com"], requireDigest: true },
        executor: { kind: "local", local: { dataDir: "unused" } }, // the injected FakeExecutor runs the jobs
        reconcileIntervalMs: 500,
      }),
      { executor },
    );
    await redeemer.ready;
    redeemerApi = `http://127.0.0.1:${redeemer.port}`;
  });

  after(async function () {
    await redeemer?.stop();
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows the employee's balance", async function () {
    const run = await ctk(["balance", "--wallet", me]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("H100-80GB");
    expect(run.stdout).to.include("in_flight_h");
    expect(run.stdout).to.match(/expires in \d+ (days|h|min)/);
  });

  it("transfers two hours to a colleague from the transferable lot", async function () {
    const run = await asMe(["transfer", "--to", colleague, "--class", "H100-80GB", "--hours", "2"]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`sent 2 h of H100-80GB to ${colleague}`);
    expect(await balanceOf(colleague, lots.transferable)).to.equal(2n * H);
    expect(await balanceOf(me, lots.transferable)).to.equal(18n * H);
  });

  it("refuses a transfer beyond the transferable hours (soulbound hours never move) and to someone not on the allow-list", async function () {
    const tooMuch = await asMe(["transfer", "--to", colleague, "--class", "H100-80GB", "--hours", "19"]);
    expect(tooMuch.code).to.equal(1);
    expect(tooMuch.stderr.trim()).to.equal("error: cannot transfer 19 h: you have 18 transferable H100-80GB hours, 5 h soulbound (cannot be transferred)");
    const outside = await asMe(["transfer", "--to", outsider, "--class", "H100-80GB", "--hours", "1"]);
    expect(outside.code).to.equal(1);
    expect(outside.stderr.trim()).to.equal(`error: ${outsider} is not on the allow-list: GPU-hours can only move between onboarded employees`);
  });

  it("refuses an invalid spec locally, and asks for --yes without a terminal; nothing is sent", async function () {
    const bad = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("bad", { ...spec("bad"), privileged: true, gpus: 0 }), "--yes"]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^error: the job spec .*bad\.json is invalid: .*gpus: Number must be greater than or equal to 1/);
    const unconfirmed = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("ok", spec("ok"))]);
    expect(unconfirmed.code).to.equal(1);
    expect(unconfirmed.stderr).to.include("2 GPUs × 1 h × 1 (normal) = 2 H100-80GB GPU-hours");
    expect(unconfirmed.stderr).to.include("error: no terminal to confirm on: pass --yes to proceed without asking");
    const count = await chain.reader.publicClient.readContract({ address: chain.deployment.computeToken, abi: computeTokenAbi, functionName: "redemptionCount" });
    expect(count).to.equal(0n);
  });

  it("redeems (soonest-expiring lot first), follows the status to settled and sees the refund", async function () {
    executor.held.add(1n);
    const run = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("train", spec("train")), "--yes"]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("redeem train: 2 GPUs × 1 h × 1 (normal) = 2 H100-80GB GPU-hours");
    expect(run.stdout).to.match(/ {2}2 h from the lot expiring \S+/);
    expect(run.stdout).to.include("redemption 1 requested (tx 0x");
    // Drawn from the soulbound lot, which expires first.
    expect(await balanceOf(me, lots.soulbound)).to.equal(3n * H);

    // The job holds until the follower has seen it running, with its progress.
    const following = startCtk(["--rpc", chain.anvil.rpcUrl, "--deployment", deploymentFile, "status", "1", "--follow", "--interval", "0.2"]);
    await following.waitFor(/progress: .* of 1 h 00 min allotted \(\d+%\)/);
    expect(following.stdout()).to.match(/redemption 1: running — 2 GPUs × 1 h 00 min \(normal\), 2 GPU-hours reserved/);
    executor.release(1n);
    const follow = await following.done;
    expect(follow.code, follow.stderr).to.equal(0);
    expect(follow.stdout).to.include("redemption 1: settled");
    expect(follow.stdout).to.match(/settled .*: used 1 GPU-hours, refunded 1 \(tx 0x[0-9a-f]{64}\)/);
    expect(await balanceOf(me, lots.soulbound)).to.equal(4n * H);

    const json = await ctk(["--json", "status", "1"]);
    const doc = JSON.parse(json.stdout) as { status: string; settled: { used: number; refunded: number; at: string } };
    expect(doc.status).to.equal("Settled");
    // Numbers as numbers, timestamps as ISO 8601 UTC.
    expect(doc.settled).to.include({ used: 3600, refunded: 3600 });
    expect(doc.settled.at).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it("refuses, before burning anything, a spec the redeemer's published policy refuses, naming the field", async function () {
    const before = await balanceOf(me, lots.soulbound);
    const run = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("elsewhere", spec("elsewhere", `docker.io/library/python@${DIGEST}`)), "--yes"]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal(
      "error: the redeemer would refuse this spec (1 problem); nothing was burned\n" +
        "  image: images from docker.io/library/python are not allowed here; allowed registries: registry.example.com\n",
    );
    expect(await balanceOf(me, lots.soulbound)).to.equal(before);
  });

  it("refuses, before burning anything, to check a spec against a redeemer of another chain or contract, local chains included", async function () {
    // The real redeemer's policy, served as one of another chain (local chains share contract addresses) and of another contract would publish it.
    const real = (await (await fetch(`${redeemerApi}/v1/policy`)).json()) as Record<string, unknown>;
    expect(real.chainId).to.equal(chain.deployment.chainId);
    const deployBlock = await chain.reader.publicClient.getBlock({ blockNumber: BigInt(chain.deployment.deployBlock) });
    expect(real.deployBlockHash).to.equal(deployBlock.hash);
    let served: Record<string, unknown> = real;
    const other = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      const before = await balanceOf(me, lots.soulbound);
      const redeem = () => asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("ok", spec("ok")), "--yes", "--redeemer-api", url]);
      served = { ...real, chainId: 7 };
      let run = await redeem();
      expect([run.code, run.stderr]).to.deep.equal([
        1,
        `error: the redeemer at ${url} serves chain 7, not ${chain.deployment.chainId}: pass the --redeemer-api of this deployment's redeemer; nothing was burned\n`,
      ]);
      served = { ...real, computeToken: "0x000000000000000000000000000000000000dEaD" };
      run = await redeem();
      expect([run.code, run.stderr]).to.deep.equal([
        1,
        `error: the redeemer at ${url} serves ComputeToken 0x000000000000000000000000000000000000dEaD, not ${chain.deployment.computeToken}: pass the --redeemer-api of this deployment's redeemer; nothing was burned\n`,
      ]);
      // Another local chain: the same id and contract, another deployment block.
      const other = `0x${"ab".repeat(32)}`;
      served = { ...real, deployBlockHash: other };
      run = await redeem();
      expect([run.code, run.stderr]).to.deep.equal([
        1,
        `error: the redeemer at ${url} reads another chain with the same id and contract (its deployment block is ${other}, here ${real.deployBlockHash}): pass the --redeemer-api of this deployment's redeemer; nothing was burned\n`,
      ]);
      expect(await balanceOf(me, lots.soulbound)).to.equal(before);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it("a redemption the redeemer refuses is rejected with its reason and refunded in full", async function () {
    const run = await asMe([
      "redeem",
      "--class",
      "H100-80GB",
      "--spec",
      writeSpec("elsewhere", spec("elsewhere", `docker.io/library/python@${DIGEST}`)),
      "--yes",
      "--no-policy-check",
    ]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("redemption 2 requested");
    const follow = await ctk(["status", "2", "--follow", "--interval", "0.2"]);
    expect(follow.code, follow.stderr).to.equal(0);
    expect(follow.stdout).to.match(/rejected .*: IMAGE_NOT_ALLOWED: the image's registry is not on the allow-list; refunded 2 GPU-hours/);
    expect(await balanceOf(me, lots.soulbound)).to.equal(4n * H);
  });

  it("with no redeemer running, reclaim waits for the launch timeout, then refunds in full", async function () {
    await redeemer!.stop();
    redeemer = undefined;
    const unchecked = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("stuck", spec("stuck")), "--yes"]);
    expect(unchecked.code).to.equal(1);
    expect(unchecked.stderr).to.match(
      /^error: cannot reach the redeemer's API at http:\/\/127\.0\.0\.1:\d+ \(.*\): the spec cannot be checked against its policy, so nothing was burned \(is the redeemer running\? pass --redeemer-api <url>, or --no-policy-check to burn anyway\)\n$/,
    );
    const run = await asMe(["redeem", "--class", "H100-80GB", "--spec", writeSpec("stuck", spec("stuck")), "--yes", "--no-policy-check"]);
    expect(run.stdout).to.include("redemption 3 requested");
    const early = await asMe(["reclaim", "3"]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.match(/^error: redemption 3 can be reclaimed in (59 min|1 h 00 min) \(from .+\), if the redeemer has not launched it by then\n$/);
    const waiting = await ctk(["status", "3"]);
    expect(waiting.stdout).to.match(/waiting for the redeemer to launch it; reclaimable in/);
    const held = await ctk(["--json", "balance", "--wallet", me]);
    expect(held.code, held.stderr).to.equal(0);
    const h100 = JSON.parse(held.stdout).classes.find((c: { class: string }) => c.class === "H100-80GB");
    expect(h100.inFlightHours, held.stdout).to.equal(2);

    await increaseTime(chain, LOCAL_LAUNCH_TIMEOUT + 1);
    const reclaimed = await asMe(["reclaim", "3"]);
    expect(reclaimed.code, reclaimed.stderr).to.equal(0);
    expect(reclaimed.stdout).to.match(/^reclaimed redemption 3: 2 GPU-hours refunded \(tx 0x[0-9a-f]{64}\)\n$/);
    expect(await balanceOf(me, lots.soulbound)).to.equal(4n * H);
    const again = await asMe(["reclaim", "3"]);
    expect(again.stderr.trim().split("\n").at(-1)).to.equal("error: redemption 3 is reclaimed: only a redemption that is still requested or running can be reclaimed");
  });

  it("the auditor verifies that history from the chain alone, the redeemer's receipts included", async function () {
    const run = await ctk(["audit", "verify", "--receipts", receiptsDir, "--no-progress"]);
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.include("redemptions: 3 (settled 1, rejected 1, reclaimed 1, running 0, requested 0)");
    expect(run.stdout).to.include("receipts: 1 checked against the on-chain hashes");
  });
});
